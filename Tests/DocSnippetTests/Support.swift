// Stand-ins the documentation's snippets refer to, and helpers for running them.
//
// The snippets in README.md and in the DocC articles are copied verbatim into this test target
// (between `// snippet: <name>` and `// end snippet`; scripts/check-docs.py checks that every
// ```swift block of the docs is in one). Compiling them here means that renaming an API breaks
// the build, not only the docs. Where a snippet talks about "your driver", it uses the small
// `MyConnection` below, which has the shape of a DB-API style driver connection.

import DBPool
import Foundation

/// A driver connection of the kind the docs call "yours": it connects in its initialiser, runs
/// SQL, and has DB-API's rollback, commit and close. It talks to no database; it only records
/// what it was asked to do, so snippets that use it can run.
final class MyConnection: DBAPIConnection {
    let url: String
    private(set) var statements: [String] = []
    private(set) var isClosed = false

    init(url: String) throws {
        self.url = url
    }

    func execute(_ sql: String) throws {
        statements.append(sql)
    }

    func query(_ sql: String) throws -> [[String?]] {
        statements.append(sql)
        return [["1"]]
    }

    func rollback() throws { statements.append("ROLLBACK") }
    func commit() throws { statements.append("COMMIT") }
    func close() throws { isClosed = true }
}

/// The error type of "your" driver, with the flag a dialect's `isDisconnect` reads.
struct MyError: Error {
    var isConnectionLost: Bool
}

/// Runs `body` with a fresh temporary directory as the current directory, so that snippets
/// which open `app.db` in the current directory leave nothing behind.
func inTemporaryDirectory<R>(_ body: () throws -> R) throws -> R {
    let files = FileManager.default
    let directory = files.temporaryDirectory.appendingPathComponent("dbpool-doc-snippets-\(UUID().uuidString)")
    try files.createDirectory(at: directory, withIntermediateDirectories: true)
    let previous = files.currentDirectoryPath
    guard files.changeCurrentDirectoryPath(directory.path) else {
        throw CocoaError(.fileNoSuchFile)
    }
    defer {
        _ = files.changeCurrentDirectoryPath(previous)
        try? files.removeItem(at: directory)
    }
    return try body()
}

/// The async form of ``inTemporaryDirectory(_:)``. XCTest runs one test at a time, so changing
/// the process's current directory for the length of a test is safe here.
func inTemporaryDirectory<R>(_ body: () async throws -> R) async throws -> R {
    let files = FileManager.default
    let directory = files.temporaryDirectory.appendingPathComponent("dbpool-doc-snippets-\(UUID().uuidString)")
    try files.createDirectory(at: directory, withIntermediateDirectories: true)
    let previous = files.currentDirectoryPath
    guard files.changeCurrentDirectoryPath(directory.path) else {
        throw CocoaError(.fileNoSuchFile)
    }
    defer {
        _ = files.changeCurrentDirectoryPath(previous)
        try? files.removeItem(at: directory)
    }
    return try await body()
}

/// The dialect the docs write for `MyConnection` (GettingStarted.md shows it in full).
struct MyDialect: Dialect {
    func doRollback(_ c: MyConnection) throws { try c.rollback() }
    func doCommit(_ c: MyConnection) throws { try c.commit() }
    func doClose(_ c: MyConnection) throws { try c.close() }
    func doPing(_ c: MyConnection) throws -> Bool { try c.execute("SELECT 1"); return true }
    func isDisconnect(_ error: any Error, connection: MyConnection?) -> Bool {
        (error as? MyError)?.isConnectionLost ?? false
    }
}
