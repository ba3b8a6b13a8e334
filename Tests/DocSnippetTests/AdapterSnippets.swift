// The code blocks of the DBPoolSQLite and DBPoolPostgres catalogs.

import DBPool
import DBPoolPostgres
import DBPoolSQLite
import XCTest

final class AdapterSnippetTests: XCTestCase {
    func testSQLite() throws {
        try inTemporaryDirectory {
            // snippet: adapter-sqlite
            //! import DBPool
            //! import DBPoolSQLite

            // A file: QueuePool, as SQLAlchemy uses for file databases. Concurrent writers wait up to the
            // busy timeout for each other's lock instead of failing at once.
            let pool = try QueuePool(poolSize: 4, maxOverflow: 2, options: PoolOptions(prePing: true), dialect: SQLiteDialect()) {
                try SQLiteConnection(path: "app.db", busyTimeout: .seconds(2))
            }
            let version = try pool.withConnection { try $0.connection.query("SELECT sqlite_version()") }
            // end snippet
            XCTAssertEqual(version.count, 1)
        }
    }

    /// Compiled, not run: it needs a PostgreSQL server.
    func postgres() throws -> Int32 {
        // snippet: adapter-postgres
        //! import DBPool
        //! import DBPoolPostgres

        // Pre-ping, because a server restart or a failover silently kills idle connections.
        let pool = try QueuePool(poolSize: 10, options: PoolOptions(prePing: true), dialect: PostgresDialect()) {
            try PostgresConnection(url: "postgresql://app@127.0.0.1:5432/main")
        }
        let pid = try pool.withConnection { conn in conn.backendPID }    // a property, read through the fairy
        // end snippet
        return pid
    }

    func testSQLiteParameters() throws {
        let db = try SQLiteConnection(path: ":memory:")
        defer { try? db.close() }
        // snippet: adapter-sqlite-parameters
        try db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, admin INTEGER)")
        try db.execute("INSERT INTO users (id, name, admin) VALUES (?, ?, ?)", [42, "alice", true])

        // Typed rows: read a column by name or position, as .int64, .double, .string, .bytes, .bool.
        let rows = try db.queryRows("SELECT id, name FROM users WHERE id = ?", [.integer(42)])
        let name = rows.first?["name"]?.string                      // "alice"

        // Rows as text, as the parameterless query(_:) returns them.
        let ids = try db.query("SELECT id FROM users WHERE name = ?", ["alice"])    // [["42"]]

        // An optional becomes NULL when it is nil.
        let nickname: String? = nil
        try db.execute("UPDATE users SET name = coalesce(?, name) WHERE id = ?", [SQLValue(nickname), 42])
        // end snippet
        XCTAssertEqual(name, "alice")
        XCTAssertEqual(ids, [["42"]])
        XCTAssertEqual(try db.queryRows("SELECT admin, name FROM users").first?.values, [.integer(1), .text("alice")])
        XCTAssertEqual(try db.queryRows("SELECT admin FROM users").first?[0].bool, true)
        try db.execute("INSERT INTO users (id, name) VALUES (?, ?)", [7, "'); DROP TABLE users; --"])
        XCTAssertEqual(try db.query("SELECT name FROM users WHERE id = ?", [7]), [["'); DROP TABLE users; --"]])
    }

    /// Compiled, not run: it needs a PostgreSQL server.
    func postgresParameters(_ db: PostgresConnection, token: String) throws -> (String?, [[String?]]) {
        // snippet: adapter-postgres-parameters
        try db.execute("INSERT INTO users (id, name, admin) VALUES ($1, $2, $3)", [42, "alice", true])

        // Typed rows: read a column by name or position, as .int64, .double, .string, .bytes, .bool.
        let rows = try db.queryRows("SELECT id, name FROM users WHERE id = $1", [.integer(42)])
        let name = rows.first?["name"]?.string                      // "alice"

        // Cast where the server cannot infer the type you mean.
        let found = try db.query("SELECT name FROM sessions WHERE token = $1::uuid", [.text(token)])
        // end snippet
        return (name, found)
    }
}
