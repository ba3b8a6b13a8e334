import CSQLite3
import DBPool
import DBPoolSQLite
import Foundation
import XCTest

/// ``SQLiteError``: the code, extended code and message of each kind of failure, and which ones
/// ``SQLiteDialect`` counts as a disconnect.
final class SQLiteErrorTests: TemporaryDirectoryTestCase {
    func testSyntaxErrorCarriesCodeAndMessageAndIsNotDisconnect() throws {
        let conn = try SQLiteConnection(path: ":memory:")
        defer { try? conn.close() }
        for run in [{ try conn.execute("SELEC 1") }, { _ = try conn.query("SELEC 1") }] {
            let error = try XCTUnwrap(expectSQLiteError(run))
            XCTAssertEqual(error.code, SQLITE_ERROR)
            XCTAssertTrue(error.message.contains("syntax error"), error.message)
            XCTAssertTrue(error.description.contains("syntax error"), error.description)
            XCTAssertFalse(error.connectionClosed)
            XCTAssertFalse(SQLiteDialect().isDisconnect(error, connection: conn))
        }
        // The connection is still usable.
        XCTAssertEqual(try conn.query("SELECT 1"), [["1"]])
    }

    func testConstraintErrorHasExtendedCode() throws {
        let conn = try SQLiteConnection(path: ":memory:")
        defer { try? conn.close() }
        try conn.execute("CREATE TABLE t(x UNIQUE); INSERT INTO t VALUES (1)")
        let error = try XCTUnwrap(expectSQLiteError { try conn.execute("INSERT INTO t VALUES (1)") })
        XCTAssertEqual(error.code, SQLITE_CONSTRAINT)
        XCTAssertEqual(error.extendedCode, 2067)  // SQLITE_CONSTRAINT_UNIQUE
        XCTAssertTrue(error.message.contains("UNIQUE"), error.message)
        XCTAssertFalse(SQLiteDialect().isDisconnect(error, connection: conn))

        // An error raised while stepping (not while preparing) is reported too.
        let stepError = try XCTUnwrap(expectSQLiteError { _ = try conn.query("INSERT INTO t VALUES (1) RETURNING x") })
        XCTAssertEqual(stepError.code, SQLITE_CONSTRAINT)
    }

    func testOpenFailureIsCantOpenAndADisconnect() throws {
        let error = try XCTUnwrap(
            expectSQLiteError {
                _ = try SQLiteConnection(path: tempPath("missing-dir/sub/x.db"))
            })
        XCTAssertEqual(error.code, SQLITE_CANTOPEN)
        XCTAssertTrue(error.message.contains("missing-dir"), error.message)
        XCTAssertTrue(SQLiteDialect().isDisconnect(error, connection: nil))
    }

    func testNotADatabaseIsADisconnect() throws {
        let path = tempPath("garbage.db")
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: path))
        let conn = try SQLiteConnection(path: path)  // SQLite opens lazily
        defer { try? conn.close() }
        let error = try XCTUnwrap(expectSQLiteError { _ = try conn.query("SELECT * FROM sqlite_master") })
        XCTAssertEqual(error.code, SQLITE_NOTADB)
        XCTAssertTrue(SQLiteDialect().isDisconnect(error, connection: conn))
        // `SELECT 1` never reads the file, so the ping cannot see this; it only detects a
        // closed or disconnected handle (documented on SQLiteDialect.doPing).
        XCTAssertTrue(try SQLiteDialect().doPing(conn))
    }

    func testIsDisconnectClassification() throws {
        let dialect = SQLiteDialect()
        let disconnects: [Int32] = [
            SQLITE_IOERR, 266 /* IOERR_READ */, 3338 /* IOERR_FSYNC */,
            SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_CANTOPEN
        ]
        for code in disconnects {
            XCTAssertTrue(dialect.isDisconnect(SQLiteError(code: code, message: "x"), connection: nil), "\(code)")
        }
        XCTAssertEqual(SQLiteError(code: 266, message: "x").code, SQLITE_IOERR)
        XCTAssertEqual(SQLiteError(code: 266, message: "x").extendedCode, 266)
        let others: [Int32] = [
            SQLITE_ERROR, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CONSTRAINT, SQLITE_FULL,
            SQLITE_READONLY, SQLITE_MISUSE
        ]
        for code in others {
            XCTAssertFalse(dialect.isDisconnect(SQLiteError(code: code, message: "x"), connection: nil), "\(code)")
        }
        struct Other: Error {}
        XCTAssertFalse(dialect.isDisconnect(Other(), connection: nil))
        XCTAssertFalse(dialect.isDisconnect(PoolError.connectionClosed, connection: nil))

        // SQLITE_MISUSE counts only when the connection it came from is closed.
        let conn = try SQLiteConnection(path: ":memory:")
        let misuse = SQLiteError(code: SQLITE_MISUSE, message: "bad parameter or other API misuse")
        XCTAssertFalse(dialect.isDisconnect(misuse, connection: conn))
        try conn.close()
        XCTAssertTrue(dialect.isDisconnect(misuse, connection: conn))
    }
}
