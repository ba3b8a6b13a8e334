import CSQLite3
import DBPool
import DBPoolSQLite
import Foundation
import XCTest

/// ``SQLiteConnection`` and ``SQLiteDialect`` without a pool: statements and rows, transactions,
/// close, simulated disconnects and the ping.
final class SQLiteConnectionTests: TemporaryDirectoryTestCase {
    // MARK: - execute / query

    func testMemoryExecuteQueryAndNulls() throws {
        let conn = try SQLiteConnection(path: ":memory:")
        defer { try? conn.close() }
        try conn.execute(
            """
            CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, note TEXT);
            INSERT INTO t(name, score, note) VALUES ('alice', 1.5, NULL);
            INSERT INTO t(name, score, note) VALUES ('bob', NULL, 'héllo ✓');
            """)
        let rows = try conn.query("SELECT id, name, score, note FROM t ORDER BY id")
        XCTAssertEqual(rows, [["1", "alice", "1.5", nil], ["2", "bob", nil, "héllo ✓"]])
        XCTAssertEqual(try conn.query("SELECT NULL, '', 42"), [[nil, "", "42"]])
        XCTAssertEqual(try conn.query("SELECT * FROM t WHERE id > 99"), [])
    }

    func testQueryRunsEveryStatementAndReturnsAllRows() throws {
        let conn = try SQLiteConnection(path: ":memory:")
        defer { try? conn.close() }
        let rows = try conn.query("CREATE TABLE t(x); INSERT INTO t VALUES (7); SELECT x FROM t; SELECT 'a', 'b';  ")
        XCTAssertEqual(rows, [["7"], ["a", "b"]])
        // Blank and comment-only input yields no statement and no rows.
        XCTAssertEqual(try conn.query("   -- nothing here\n"), [])
        try conn.execute("")
    }

    func testTextWithEmbeddedNulByteIsReturnedWhole() throws {
        let conn = try SQLiteConnection(path: ":memory:")
        defer { try? conn.close() }
        let rows = try conn.query("SELECT 'a' || char(0) || 'b'")
        XCTAssertEqual(rows, [["a\u{0}b"]])
        XCTAssertEqual(rows.first?.first??.utf8.count, 3)
    }

    func testTempFileDataVisibleToSecondConnection() throws {
        let path = tempPath()
        let writer = try SQLiteConnection(path: path)
        try writer.execute("CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('persisted')")
        try writer.close()
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))

        let reader = try SQLiteConnection(path: path)
        defer { try? reader.close() }
        XCTAssertEqual(try reader.query("SELECT v FROM t"), [["persisted"]])
        XCTAssertEqual(reader.path, path)
    }

    // MARK: - transactions

    func testRollbackUndoesUncommittedWrite() throws {
        let conn = try SQLiteConnection(path: tempPath())
        defer { try? conn.close() }
        try conn.execute("CREATE TABLE t(x)")
        try conn.execute("BEGIN; INSERT INTO t VALUES (1)")
        XCTAssertTrue(conn.inTransaction)
        XCTAssertEqual(try conn.query("SELECT count(*) FROM t"), [["1"]])
        try conn.rollback()
        XCTAssertFalse(conn.inTransaction)
        XCTAssertEqual(try conn.query("SELECT count(*) FROM t"), [["0"]])
    }

    func testCommitPersistsForOtherConnections() throws {
        let path = tempPath()
        let conn = try SQLiteConnection(path: path)
        defer { try? conn.close() }
        let other = try SQLiteConnection(path: path)
        defer { try? other.close() }
        try conn.execute("CREATE TABLE t(x)")
        try conn.execute("BEGIN; INSERT INTO t VALUES (1)")
        XCTAssertEqual(try other.query("SELECT count(*) FROM t"), [["0"]], "uncommitted write is invisible")
        try conn.commit()
        XCTAssertFalse(conn.inTransaction)
        XCTAssertEqual(try other.query("SELECT count(*) FROM t"), [["1"]])
        try conn.close()
        let reopened = try SQLiteConnection(path: path)
        defer { try? reopened.close() }
        XCTAssertEqual(try reopened.query("SELECT x FROM t"), [["1"]])
    }

    func testRollbackAndCommitAreNoOpsWithoutTransaction() throws {
        let conn = try SQLiteConnection(path: ":memory:")
        defer { try? conn.close() }
        try conn.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
        XCTAssertFalse(conn.inTransaction)
        // A plain "ROLLBACK"/"COMMIT" would fail with "no transaction is active".
        XCTAssertThrowsError(try conn.execute("ROLLBACK"))
        try conn.rollback()
        try conn.commit()
        XCTAssertEqual(try conn.query("SELECT x FROM t"), [["1"]], "autocommitted row stays")
    }

    func testCloseRollsBackOpenTransaction() throws {
        let path = tempPath()
        let conn = try SQLiteConnection(path: path)
        try conn.execute("CREATE TABLE t(x); BEGIN; INSERT INTO t VALUES (1)")
        try conn.close()
        let reopened = try SQLiteConnection(path: path)
        defer { try? reopened.close() }
        XCTAssertEqual(try reopened.query("SELECT count(*) FROM t"), [["0"]])
    }

    // MARK: - close and disconnects

    func testCloseIsIdempotent() throws {
        let conn = try SQLiteConnection(path: ":memory:")
        XCTAssertFalse(conn.isClosed)
        try conn.close()
        XCTAssertTrue(conn.isClosed)
        try conn.close()
        try SQLiteDialect().doClose(conn)
        try SQLiteDialect().doTerminate(conn)
        XCTAssertTrue(conn.isClosed)
        XCTAssertFalse(conn.inTransaction)
    }

    func testUsingAClosedConnectionThrowsADisconnect() throws {
        let conn = try SQLiteConnection(path: ":memory:")
        try conn.close()
        let dialect = SQLiteDialect()
        let uses: [(String, () throws -> Void)] = [
            ("execute", { try conn.execute("SELECT 1") }),
            ("query", { _ = try conn.query("SELECT 1") }),
            ("rollback", { try conn.rollback() }),
            ("commit", { try conn.commit() }),
            ("doRollback", { try dialect.doRollback(conn) }),
            ("ping", { try conn.ping() })
        ]
        for (name, use) in uses {
            let error = try XCTUnwrap(expectSQLiteError(use), name)
            XCTAssertTrue(error.connectionClosed, name)
            XCTAssertEqual(error.code, SQLITE_MISUSE, name)
            XCTAssertTrue(dialect.isDisconnect(error, connection: conn), name)
            XCTAssertTrue(dialect.isDisconnect(error, connection: nil), "\(name): the error alone says so")
        }
        XCTAssertFalse(try dialect.doPing(conn))
    }

    func testSimulateDisconnect() throws {
        let conn = try SQLiteConnection(path: ":memory:")
        let dialect = SQLiteDialect()
        XCTAssertTrue(try dialect.doPing(conn))
        try conn.execute("CREATE TABLE t(x); BEGIN; INSERT INTO t VALUES (1)")
        conn.simulateDisconnect()
        XCTAssertTrue(conn.isClosed)
        let error = try XCTUnwrap(expectSQLiteError { _ = try conn.query("SELECT 1") })
        XCTAssertEqual(error.code, SQLITE_IOERR)
        XCTAssertTrue(error.message.contains("simulated"), error.message)
        XCTAssertTrue(dialect.isDisconnect(error, connection: conn))
        XCTAssertTrue(dialect.isDisconnect(error, connection: nil))
        XCTAssertFalse(try dialect.doPing(conn))
        XCTAssertThrowsError(try dialect.doRollback(conn)) { error in
            XCTAssertTrue(dialect.isDisconnect(error, connection: conn))
        }
        conn.simulateDisconnect()  // harmless again
        try conn.close()  // and close stays harmless
    }

    /// The ping's prepared statement is reused across pings, in and out of a transaction, and is
    /// finalized when the connection closes or drops its handle (the ASan run's leak check would
    /// report a statement left behind).
    func testPingReusesItsStatementUntilTheConnectionCloses() throws {
        for ending in ["close", "disconnect"] {
            let conn = try SQLiteConnection(path: ":memory:")
            for _ in 0..<1_000 { try conn.ping() }
            try conn.execute("CREATE TABLE t(x); BEGIN; INSERT INTO t VALUES (1)")
            try conn.ping()
            XCTAssertTrue(conn.inTransaction, "a ping leaves the transaction alone")
            try conn.rollback()
            if ending == "close" { try conn.close() } else { conn.simulateDisconnect() }
            let error = try XCTUnwrap(expectSQLiteError { try conn.ping() }, ending)
            XCTAssertTrue(error.connectionClosed, ending)
        }
    }

    func testPingAndDialectForwarding() throws {
        let dialect = SQLiteDialect()
        let conn = try SQLiteConnection(path: ":memory:")
        defer { try? conn.close() }
        XCTAssertTrue(try dialect.doPing(conn))
        try conn.execute("CREATE TABLE t(x)")
        try conn.execute("BEGIN; INSERT INTO t VALUES (1)")
        try dialect.doRollback(conn)
        XCTAssertEqual(try conn.query("SELECT count(*) FROM t"), [["0"]])
        try conn.execute("BEGIN; INSERT INTO t VALUES (2)")
        try dialect.doCommit(conn)
        XCTAssertFalse(conn.inTransaction)
        XCTAssertEqual(try conn.query("SELECT x FROM t"), [["2"]])
        try dialect.doClose(conn)
        XCTAssertTrue(conn.isClosed)
    }
}
