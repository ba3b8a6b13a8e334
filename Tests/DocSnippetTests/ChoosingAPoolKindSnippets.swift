// The code blocks of ChoosingAPoolKind.md.

import DBPool
import DBPoolPostgres
import DBPoolSQLite
import XCTest

final class ChoosingAPoolKindSnippetTests: XCTestCase {
    /// Compiled, not run: it needs a PostgreSQL server.
    func filePoolAndPostgres() throws -> (QueuePool<SQLiteConnection>, QueuePool<PostgresConnection>) {
        // snippet: choosing-file-and-postgres
        // A file database: QueuePool. Each connection waits up to 5 s for a writer's lock by default.
        let sqlite = try QueuePool(poolSize: 4, maxOverflow: 2, dialect: SQLiteDialect()) {
            try SQLiteConnection(path: "app.db")
        }

        // PostgreSQL over libpq, by URL or keyword string, with a ping before each reuse.
        let pg = try QueuePool(poolSize: 10, options: PoolOptions(prePing: true), dialect: PostgresDialect()) {
            try PostgresConnection(url: "postgresql://app@127.0.0.1:5432/main")
        }
        // end snippet
        return (sqlite, pg)
    }

    func testMemoryDatabases() throws {
        // snippet: choosing-memory
        // `:memory:` lives inside one connection: share it (StaticPool) or keep one per thread.
        let shared = try StaticPool(dialect: SQLiteDialect()) { try SQLiteConnection(path: ":memory:") }
        let perThread = try SingletonThreadPool(poolSize: 4, dialect: SQLiteDialect()) {
            try SQLiteConnection(path: ":memory:")
        }
        // end snippet
        try shared.withConnection { try $0.connection.execute("CREATE TABLE t (x)") }
        let tables = try shared.withConnection { try $0.connection.query("SELECT name FROM sqlite_master") }
        XCTAssertEqual(tables, [["t"]], "the second checkout sees the same in-memory database")
        let outer = try perThread.connect()
        let inner = try perThread.connect()
        XCTAssertTrue(outer === inner, "a nested checkout on one thread returns the same fairy")
        inner.close()
        outer.close()
    }
}
