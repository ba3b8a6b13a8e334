// The code of Sources/DBPoolTesting/DBPoolTesting.docc/TestingYourCode.md, compiled and run.
// testArticleCodeIsThisFilesCode fails if a ```swift block of the article is not in this file
// verbatim, so the article cannot drift from code that builds and passes.

import DBPool
import DBPoolTesting
import Foundation
import XCTest

/// Data access written against `SQLExecutor`: it runs on `SQLiteConnection` or
/// `PostgresConnection` in production, and on the test kit's connections in tests.
struct UserRepository<Connection: SQLExecutor>: Sendable {
    let pool: any Pool<Connection>
    /// Whether an error means the connection was lost (the pool's dialect knows).
    let isDisconnect: @Sendable (any Error) -> Bool
    var attempts = 3

    func name(of id: Int64) throws -> String? {
        try pool.withConnection { fairy in
            guard let db = fairy.dbapiConnection else { throw PoolError.connectionClosed }
            return try db.queryRows("SELECT name FROM users WHERE id = ?", [.integer(id)]).first?["name"]?.string
        }
    }

    /// Renames a user and writes an audit row in one transaction. A lost connection is retried
    /// on a fresh one; any other error goes to the caller.
    func rename(_ id: Int64, to name: String) throws {
        var attempt = 1
        while true {
            do {
                return try pool.withConnection { fairy in
                    guard let db = fairy.dbapiConnection else { throw PoolError.connectionClosed }
                    try db.execute("BEGIN")
                    try db.execute("UPDATE users SET name = ? WHERE id = ?", [.text(name), .integer(id)])
                    try db.execute("INSERT INTO audit (user_id, action) VALUES (?, ?)", [.integer(id), "rename"])
                    try db.execute("COMMIT")
                }
            } catch where attempt < attempts && isDisconnect(error) {
                attempt += 1
            }
        }
    }
}

final class UserRepositoryTests: XCTestCase {
    private let dbapi = MockDBAPI()
    private var users: UserRepository<MockConnection>!

    override func setUpWithError() throws {
        let pool = try QueuePool(poolSize: 1, dialect: MockDialect(), creator: dbapi.creator())
        users = UserRepository(pool: pool, isDisconnect: { MockDialect().isDisconnect($0, connection: nil) })
    }

    func testNameComesFromTheScriptedRow() throws {
        dbapi.script.respond(to: .exact("SELECT name FROM users WHERE id = ?"), columns: ["name"], rows: [["alice"]])

        XCTAssertEqual(try users.name(of: 7), "alice")
        XCTAssertEqual(dbapi.script.statements.map(\.parameters), [[7]])
    }

    func testUnknownUserHasNoName() throws {
        // Unscripted statements succeed with no rows.
        XCTAssertNil(try users.name(of: 8))
    }

    func testRenameRetriesALostConnectionOnAFreshOne() throws {
        dbapi.script.failOnce(.prefix("UPDATE users"), with: .disconnect)

        try users.rename(7, to: "bob")

        XCTAssertEqual(dbapi.script.statements.map(\.sql), [
            "BEGIN", "UPDATE users SET name = ? WHERE id = ?",
            "BEGIN", "UPDATE users SET name = ? WHERE id = ?",
            "INSERT INTO audit (user_id, action) VALUES (?, ?)", "COMMIT",
        ])
        XCTAssertEqual(dbapi.connections.count, 2, "the lost connection was replaced")
        XCTAssertTrue(dbapi.connections[0].closed)
    }

    func testRenameSurfacesOtherErrorsWithoutRetrying() throws {
        dbapi.script.fail(.prefix("INSERT INTO audit"), with: .error)

        XCTAssertThrowsError(try users.rename(7, to: "bob")) { error in
            XCTAssertEqual(error as? MockError, MockError("statement failed: INSERT INTO audit (user_id, action) VALUES (?, ?)"))
        }
        XCTAssertEqual(dbapi.script.statements.filter { $0.sql == "BEGIN" }.count, 1, "not retried")
        XCTAssertEqual(dbapi.connections[0].calls.last, "rollback()", "the pool rolled the transaction back")
    }
}

final class UserRepositoryChaosTests: XCTestCase {
    func testRenameUnderStatementChaosCommitsExactlyWhatItReports() throws {
        var faults = ChaosConfiguration.statementFaults
        faults.statementDelay = .microseconds(50)
        let chaos = ChaosDBAPI(seed: 42, configuration: faults, script: MockScript())
        let pool = try QueuePool(poolSize: 2, maxOverflow: 0, dialect: ChaosDialect(), creator: chaos.creator())
        let users = UserRepository(pool: pool, isDisconnect: { ChaosDialect().isDisconnect($0, connection: nil) })

        var succeeded: [SQLValue] = [], surfaced = 0, gaveUp = 0
        for id in Int64(1)...200 {
            do {
                try users.rename(id, to: "user \(id)")
                succeeded.append(.integer(id))
            } catch is ChaosError {
                surfaced += 1        // a statement error: passed on, not retried
            } catch is ChaosDisconnectError {
                gaveUp += 1          // lost the connection on every attempt
            }
        }

        // What reached the database is exactly what the repository reported: each success
        // committed once and complete, no failure committed even in part.
        let committed = chaos.committedTransactions
        XCTAssertTrue(committed.allSatisfy { $0.count == 4 && $0.first?.sql == "BEGIN" }, chaos.failureMessage)
        XCTAssertEqual(committed.map { $0.count == 4 ? $0[1].parameters[1] : .null }, succeeded, chaos.failureMessage)
        // And the chaos reached the repository: errors surfaced, and retries happened.
        XCTAssertGreaterThan(surfaced, 0, chaos.failureMessage)
        XCTAssertGreaterThan(chaos.script?.statements.filter { $0.sql == "BEGIN" }.count ?? 0,
                             200 - gaveUp, "some renames succeeded only on a retry; \(chaos.failureMessage)")
        pool.dispose()
        XCTAssertEqual(chaos.problems(expectOpen: 0), [], chaos.failureMessage)
    }
}

/// Checks that the examples above can fail, and that the article shows their code.
final class TestingYourCodeArticleTests: XCTestCase {
    /// A repository with the two classic bugs: no transaction, and a retry on every error.
    struct CarelessRepository<Connection: SQLExecutor> {
        let pool: any Pool<Connection>
        func rename(_ id: Int64, to name: String) throws {
            for attempt in 1...3 {
                do {
                    return try pool.withConnection { fairy in
                        guard let db = fairy.dbapiConnection else { throw PoolError.connectionClosed }
                        try db.execute("UPDATE users SET name = ? WHERE id = ?", [.text(name), .integer(id)])
                        try db.execute("INSERT INTO audit (user_id, action) VALUES (?, ?)", [.integer(id), "rename"])
                    }
                } catch where attempt < 3 {}
            }
        }
    }

    func testTheChaosCheckCatchesACarelessRepository() throws {
        var faults = ChaosConfiguration.statementFaults
        faults.statementDelay = .microseconds(50)
        let chaos = ChaosDBAPI(seed: 42, configuration: faults, script: MockScript())
        let pool = try QueuePool(poolSize: 2, maxOverflow: 0, dialect: ChaosDialect(), creator: chaos.creator())
        let careless = CarelessRepository(pool: pool)
        var succeeded: [Int64] = []
        for id in Int64(1)...200 {
            if (try? careless.rename(id, to: "user \(id)")) != nil { succeeded.append(id) }
        }
        // The same book-keeping as the chaos test above finds both bugs.
        let updates = chaos.committedTransactions.joined().filter { $0.sql.hasPrefix("UPDATE") }
        let updatedIDs = updates.compactMap { $0.parameters[1].int64 }
        XCTAssertGreaterThan(updatedIDs.count, Set(updatedIDs).count, "a retried rename updated twice")
        XCTAssertFalse(Set(updatedIDs).isSubset(of: Set(succeeded)), "a failed rename left its update behind")
        pool.dispose()
    }

    func testArticleCodeIsThisFilesCode() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let article = try String(contentsOf: root.appendingPathComponent(
            "Sources/DBPoolTesting/DBPoolTesting.docc/TestingYourCode.md"), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        XCTAssertTrue(article.hasPrefix("# Testing Your Own Code\n"))
        let blocks = article.components(separatedBy: "```swift\n").dropFirst().map {
            $0.components(separatedBy: "```").first ?? ""
        }
        XCTAssertGreaterThanOrEqual(blocks.count, 3)
        for block in blocks {
            XCTAssertTrue(source.contains(block), "the article shows code this test file does not have:\n\(block)")
        }
    }
}
