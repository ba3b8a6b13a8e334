// The code blocks of GettingStarted.md, compiled and run against the stand-in `MyConnection`.

import DBPool
import XCTest

final class GettingStartedSnippetTests: XCTestCase {
    func testFirstPoolAndBlockingCallers() throws {
        // snippet: getting-started-first-pool
        //! import DBPool

        // MyConnection is your driver's connection class, declared `: DBAPIConnection`.
        let pool = try QueuePool(poolSize: 5, maxOverflow: 10, timeout: .seconds(30)) {
            try MyConnection(url: "postgresql://app@db.internal/main")
        }
        // end snippet

        do {
            // snippet: getting-started-connect-close
            let conn = try pool.connect()
            defer { conn.close() }
            try conn.connection.execute("UPDATE jobs SET state = 'done' WHERE id = 42")
            try conn.connection.commit()
            // end snippet
        }

        // snippet: getting-started-with-connection
        let names = try pool.withConnection { conn in
            try conn.connection.query("SELECT name FROM users ORDER BY name")
        }
        // end snippet
        XCTAssertEqual(names, [["1"]])
        XCTAssertEqual(pool.checkedOut, 0)
    }

    func testAsyncCallers() async throws {
        let pool = try QueuePool(poolSize: 5, maxOverflow: 10, timeout: .seconds(30)) {
            try MyConnection(url: "postgresql://app@db.internal/main")
        }
        // snippet: getting-started-async
        let count = try await pool.withConnection { conn in
            try conn.connection.query("SELECT count(*) FROM users")
        }

        let leased = try await pool.connect()
        try leased.connection.execute("SELECT 1")
        leased.close()
        // end snippet
        XCTAssertEqual(count, [["1"]])
    }

    func testOwnDialect() throws {
        // snippet: getting-started-dialect
        struct MyDialect: Dialect {
            func doRollback(_ c: MyConnection) throws { try c.rollback() }
            func doCommit(_ c: MyConnection) throws { try c.commit() }
            func doClose(_ c: MyConnection) throws { try c.close() }
            func doPing(_ c: MyConnection) throws -> Bool { try c.execute("SELECT 1"); return true }
            func isDisconnect(_ error: any Error, connection: MyConnection?) -> Bool {
                (error as? MyError)?.isConnectionLost ?? false
            }
        }

        let pinged = try QueuePool(options: PoolOptions(prePing: true), dialect: MyDialect()) {
            try MyConnection(url: "postgresql://app@db.internal/main")
        }
        // end snippet
        try pinged.connect().close()
        let second = try pinged.connect()
        XCTAssertEqual(second.connection.statements.last, "SELECT 1", "the second checkout pings")
        second.close()

        // snippet: getting-started-creator-with-record
        let counted = try QueuePool(dialect: MyDialect()) { record in
            let connects = record.recordInfo["connects"] as? Int ?? 0
            record.recordInfo["connects"] = connects + 1        // kept across this slot's reconnects
            return try MyConnection(url: "postgresql://app@db.internal/main")
        }
        // end snippet
        let fairy = try counted.connect()
        XCTAssertEqual(fairy.recordInfo?["connects"] as? Int, 1)
        fairy.close()
    }
}
