import CSQLite3
import DBPool
import DBPoolSQLite
import Foundation
import Synchronization
import XCTest

/// Adapter-level tests of ``SQLiteConnection``, ``SQLiteError`` and ``SQLiteDialect``, without a pool.
final class SQLiteConnectionTests: XCTestCase {
    private var tempDirectory: URL!

    override func setUpWithError() throws {
        tempDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("dbpool-sqlite-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: tempDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let tempDirectory { try? FileManager.default.removeItem(at: tempDirectory) }
    }

    private func tempPath(_ name: String = "test.db") -> String {
        tempDirectory.appendingPathComponent(name).path
    }

    /// Runs `body`, expecting a ``SQLiteError``, and returns it.
    private func expectSQLiteError(
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

    // MARK: - errors

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

    // MARK: - busy timeout and concurrency

    func testBusyTimeoutIsConfigurable() throws {
        let path = tempPath()
        let holder = try SQLiteConnection(path: path)
        defer { try? holder.close() }
        try holder.execute("CREATE TABLE t(x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")

        // No wait at all: SQLITE_BUSY at once, which is not a disconnect.
        let impatient = try SQLiteConnection(path: path, busyTimeout: .zero)
        defer { try? impatient.close() }
        let clock = ContinuousClock()
        var start = clock.now
        let busy = try XCTUnwrap(expectSQLiteError { try impatient.execute("INSERT INTO t VALUES (2)") })
        XCTAssertEqual(busy.code, SQLITE_BUSY)
        XCTAssertFalse(SQLiteDialect().isDisconnect(busy, connection: impatient))
        XCTAssertLessThan(clock.now - start, .milliseconds(250))

        // A short timeout waits about that long before giving up.
        let patient = try SQLiteConnection(path: path, busyTimeout: .milliseconds(600))
        defer { try? patient.close() }
        start = clock.now
        let late = try XCTUnwrap(expectSQLiteError { try patient.execute("INSERT INTO t VALUES (3)") })
        XCTAssertEqual(late.code, SQLITE_BUSY)
        XCTAssertGreaterThanOrEqual(clock.now - start, .milliseconds(500))

        // Once the lock is released, the waiting connection gets through.
        try holder.commit()
        try patient.execute("INSERT INTO t VALUES (3)")
        XCTAssertEqual(try holder.query("SELECT count(*) FROM t"), [["2"]])
    }

    func testConcurrentWritersWithBusyTimeout() throws {
        let path = tempPath("concurrent.db")
        let setup = try SQLiteConnection(path: path)
        try setup.execute("CREATE TABLE t(thread INTEGER, i INTEGER, PRIMARY KEY (thread, i))")
        try setup.close()

        let threadCount = 4
        let iterations = 40
        let failures = Failures()
        let done = DispatchSemaphore(value: 0)
        for thread in 0..<threadCount {
            let worker = Thread {
                defer { done.signal() }
                do {
                    // Each thread has its own connection; the default 5 s busy timeout serialises them.
                    let conn = try SQLiteConnection(path: path)
                    defer { try? conn.close() }
                    for i in 0..<iterations {
                        if i.isMultiple(of: 2) {
                            // Autocommit insert.
                            try conn.execute("INSERT INTO t VALUES (\(thread), \(i))")
                        } else {
                            // An explicit write transaction, committed through the DB-API method.
                            try conn.execute("BEGIN IMMEDIATE; INSERT INTO t VALUES (\(thread), \(i))")
                            _ = try conn.query("SELECT count(*) FROM t WHERE thread = \(thread)")
                            try conn.commit()
                        }
                    }
                } catch {
                    failures.append("thread \(thread): \(error)")
                }
            }
            worker.start()
        }
        for _ in 0..<threadCount {
            XCTAssertEqual(done.wait(timeout: .now() + 60), .success, "a writer thread did not finish in 60 s")
        }
        XCTAssertEqual(failures.all, [])

        let check = try SQLiteConnection(path: path)
        defer { try? check.close() }
        XCTAssertEqual(try check.query("SELECT count(*) FROM t"), [["\(threadCount * iterations)"]])
        XCTAssertEqual(try check.query("SELECT count(DISTINCT thread) FROM t"), [["\(threadCount)"]])
    }
}

/// Failure messages collected from worker threads.
final class Failures: Sendable {
    private let messages = Mutex<[String]>([])
    func append(_ message: String) { messages.withLock { $0.append(message) } }
    var all: [String] { messages.withLock { $0 } }
}
