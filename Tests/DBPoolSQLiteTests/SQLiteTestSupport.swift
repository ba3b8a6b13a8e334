import DBPoolSQLite
import Foundation
import Synchronization
import XCTest

/// A fresh directory for one test's database files; `remove()` deletes it with its contents.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("dbpool-sqlite-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of a file named `name` in the directory.
    func path(_ name: String = "test.db") -> String {
        url.appendingPathComponent(name).path
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// A test case whose every test gets a fresh ``TemporaryDirectory``, removed afterwards.
class TemporaryDirectoryTestCase: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        try super.setUpWithError()
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        directory?.remove()
        super.tearDown()
    }

    /// The path of a file named `name` in this test's directory.
    func tempPath(_ name: String = "test.db") -> String {
        directory.path(name)
    }
}

/// Runs `body`, expecting a ``SQLiteError``, and returns it.
func expectSQLiteError(
    _ body: () throws -> Void, file: StaticString = #filePath,
    line: UInt = #line
) -> SQLiteError? {
    do {
        try body()
        XCTFail("expected a SQLiteError, nothing was thrown", file: file, line: line)
    } catch let error as SQLiteError {
        return error
    } catch {
        XCTFail("expected a SQLiteError, got \(type(of: error)): \(error)", file: file, line: line)
    }
    return nil
}

/// Failure messages collected from worker threads.
final class Failures: Sendable {
    private let messages = Mutex<[String]>([])
    func append(_ message: String) { messages.withLock { $0.append(message) } }
    var all: [String] { messages.withLock { $0 } }
}
