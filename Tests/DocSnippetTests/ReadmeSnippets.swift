// The code blocks of README.md, compiled and run.

import DBPool
import DBPoolSQLite
import XCTest

final class ReadmeSnippetTests: XCTestCase {
    func testQuickStartBlocking() throws {
        try inTemporaryDirectory {
            // snippet: readme-quick-start-blocking
            //! import DBPool
            //! import DBPoolSQLite

            // Up to 5 idle connections, 10 more under load; a checkout waits at most 30 s for one.
            let pool = try QueuePool(poolSize: 5, maxOverflow: 10, timeout: .seconds(30), dialect: SQLiteDialect()) {
                try SQLiteConnection(path: "app.db")
            }

            // withConnection checks a connection out, runs the body, and always gives it back.
            try pool.withConnection { conn in
                try conn.connection.execute("CREATE TABLE IF NOT EXISTS notes (body TEXT)")
                try conn.connection.commit()
            }

            // Or by hand: close() rolls back whatever the holder left open and returns the connection.
            let conn = try pool.connect()
            defer { conn.close() }
            let tables = try conn.connection.query("SELECT name FROM sqlite_master")
            // end snippet
            XCTAssertEqual(tables, [["notes"]])
        }
    }

    func testQuickStartAsync() async throws {
        try await inTemporaryDirectory {
            // snippet: readme-quick-start-async
            let pool = try QueuePool(poolSize: 5, maxOverflow: 10, timeout: .seconds(30), dialect: SQLiteDialect()) {
                try SQLiteConnection(path: "app.db")
            }
            try await pool.withConnection { conn in
                try conn.connection.execute("CREATE TABLE IF NOT EXISTS notes (body TEXT)")
            }

            // Suspends (holding no thread) while every connection is busy. The body runs on the pool's own
            // driver threads, so a slow query never holds one of Swift's few cooperative threads.
            let rows = try await pool.withConnection { conn in
                try conn.connection.query("SELECT count(*) FROM notes")
            }
            // end snippet
            XCTAssertEqual(rows, [["0"]])
            await pool.shutdown(gracePeriod: .seconds(1))
        }
    }
}
