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
}
