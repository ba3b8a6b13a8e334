import DBPool
import DBPoolPostgres
import Foundation
import XCTest

/// The server URL for these tests, from `DBPOOL_POSTGRES_URL` (set by `scripts/with-postgres`).
///
/// Without it the test is skipped, except under CI (`CI` set), where it fails: CI must run these.
func postgresURL(file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let environment = ProcessInfo.processInfo.environment
    if let url = environment["DBPOOL_POSTGRES_URL"], !url.isEmpty { return url }
    if environment["CI"] != nil {
        XCTFail(
            "DBPOOL_POSTGRES_URL is not set: no server for the Postgres tests under CI. "
                + "Run them as: scripts/with-postgres swift test --filter DBPoolPostgresTests", file: file, line: line)
        throw NoServer()
    }
    throw XCTSkip("DBPOOL_POSTGRES_URL is not set; run under scripts/with-postgres to test against a server")
}

/// Thrown after recording the CI failure, to stop the test.
struct NoServer: Error, CustomStringConvertible {
    var description: String { "no PostgreSQL server (DBPOOL_POSTGRES_URL unset)" }
}

/// Adapter-level tests of ``PostgresConnection``, ``PostgresError`` and ``PostgresDialect``,
/// without a pool, against a real server.
final class PostgresConnectionTests: XCTestCase {
    private let dialect = PostgresDialect()

    private func connect() throws -> PostgresConnection {
        try PostgresConnection(url: try postgresURL())
    }

    /// Runs `body`, expecting a ``PostgresError``, and returns it.
    private func expectPostgresError(
        _ body: () throws -> Void, file: StaticString = #filePath,
        line: UInt = #line
    ) -> PostgresError? {
        do {
            try body()
            XCTFail("expected a PostgresError, nothing was thrown", file: file, line: line)
        } catch let error as PostgresError {
            return error
        } catch {
            XCTFail("expected a PostgresError, got \(type(of: error)): \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: - execute / query

    func testExecuteQueryTextAndNulls() throws {
        let conn = try connect()
        defer { try? conn.close() }
        try conn.execute(
            """
            CREATE TEMP TABLE t(id int PRIMARY KEY, name text, score float8, flag bool, note text);
            INSERT INTO t VALUES (1, 'alice', 1.5, true, NULL), (2, 'bøb ✓', NULL, false, '');
            """)
        let rows = try conn.query("SELECT id, name, score, flag, note FROM t ORDER BY id")
        XCTAssertEqual(rows, [["1", "alice", "1.5", "t", nil], ["2", "bøb ✓", nil, "f", ""]])
        XCTAssertEqual(try conn.query("SELECT NULL::text, 42, 'x'"), [[nil, "42", "x"]])
        XCTAssertEqual(try conn.query("SELECT * FROM t WHERE id > 99"), [])
        // A command with no rows, and an empty query, return no rows.
        XCTAssertEqual(try conn.query("UPDATE t SET note = 'n' WHERE id = 1"), [])
        XCTAssertEqual(try conn.query(""), [])
        XCTAssertEqual(try conn.query("SELECT note FROM t WHERE id = 1"), [["n"]])
    }

    func testMultipleStatementsAndLastResult() throws {
        let conn = try connect()
        defer { try? conn.close() }
        let rows = try conn.query("CREATE TEMP TABLE m(x int); INSERT INTO m VALUES (1), (2); SELECT sum(x) FROM m")
        XCTAssertEqual(rows, [["3"]])
        XCTAssertEqual(try conn.query("SELECT 1; SELECT 2, 3"), [["2", "3"]])
    }

    // MARK: - errors

    func testMissingTableErrorCarriesSQLStateAndMessage() throws {
        let conn = try connect()
        defer { try? conn.close() }
        for run in [
            { try conn.execute("SELECT * FROM no_such_table") },
            { _ = try conn.query("SELECT * FROM no_such_table") }
        ] {
            let error = try XCTUnwrap(expectPostgresError(run))
            XCTAssertEqual(error.sqlState, "42P01")
            XCTAssertEqual(error.message, #"relation "no_such_table" does not exist"#)
            XCTAssertEqual(error.severity, "ERROR")
            XCTAssertTrue(error.description.contains("42P01"), error.description)
            XCTAssertFalse(dialect.isDisconnect(error, connection: conn))
            XCTAssertFalse(dialect.isDisconnect(error, connection: nil))
        }
        XCTAssertEqual(try conn.query("SELECT 1"), [["1"]], "the connection stays usable")
    }

    func testSyntaxErrorIs42601() throws {
        let conn = try connect()
        defer { try? conn.close() }
        let error = try XCTUnwrap(expectPostgresError { try conn.execute("SELEC 1") })
        XCTAssertEqual(error.sqlState, "42601")
        XCTAssertTrue(error.message.contains("syntax error"), error.message)
        XCTAssertFalse(dialect.isDisconnect(error, connection: conn))
    }

    func testUniqueViolationCarriesDetail() throws {
        let conn = try connect()
        defer { try? conn.close() }
        try conn.execute("CREATE TEMP TABLE u(x int PRIMARY KEY); INSERT INTO u VALUES (1)")
        let error = try XCTUnwrap(expectPostgresError { try conn.execute("INSERT INTO u VALUES (1)") })
        XCTAssertEqual(error.sqlState, "23505")
        XCTAssertTrue(error.detail?.contains("(x)=(1)") ?? false, String(describing: error.detail))
    }

    func testConnectFailureIs08001AndADisconnect() throws {
        // Port 1 on loopback: nothing listens there. No server needed.
        let error = try XCTUnwrap(
            expectPostgresError {
                _ = try PostgresConnection(url: "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=5")
            })
        XCTAssertEqual(error.sqlState, PostgresError.unableToConnect)
        XCTAssertFalse(error.message.isEmpty)
        XCTAssertTrue(dialect.isDisconnect(error, connection: nil))

        let bad = try XCTUnwrap(expectPostgresError { _ = try PostgresConnection(url: "this is not = a conninfo") })
        XCTAssertEqual(bad.sqlState, "08001")
    }

    func testKeywordConnectionString() throws {
        let url = try postgresURL()
        guard let components = URLComponents(string: url), let host = components.host,
            let port = components.port
        else {
            throw XCTSkip("DBPOOL_POSTGRES_URL is not a host:port URL")
        }
        let user = components.user ?? "postgres"
        let conn = try PostgresConnection(url: "host=\(host) port=\(port) user=\(user) dbname=postgres")
        defer { try? conn.close() }
        XCTAssertEqual(try conn.query("SELECT current_user"), [[user]])
    }

    func testIsDisconnectClassification() {
        for state in ["08000", "08003", "08006", "08001", "08004", "08P01", "57P01", "57P02", "57P03"] {
            XCTAssertTrue(dialect.isDisconnect(PostgresError(sqlState: state, message: "x"), connection: nil), state)
        }
        for state in ["42P01", "42601", "23505", "25P02", "57014", "40001", "53300"] {
            XCTAssertFalse(dialect.isDisconnect(PostgresError(sqlState: state, message: "x"), connection: nil), state)
        }
        XCTAssertFalse(dialect.isDisconnect(PostgresError(sqlState: nil, message: "x"), connection: nil))
        struct Other: Error {}
        XCTAssertFalse(dialect.isDisconnect(Other(), connection: nil))
    }

    // MARK: - transactions

    func testRollbackOnlyWhenATransactionIsOpen() throws {
        let conn = try connect()
        defer { try? conn.close() }
        try conn.execute("CREATE TEMP TABLE r(x int)")
        XCTAssertFalse(conn.inTransaction)
        try conn.rollback()  // idle: no-op, no error
        try conn.commit()  // idle: no-op, no error

        try conn.execute("BEGIN; INSERT INTO r VALUES (1)")
        XCTAssertTrue(conn.inTransaction)
        try conn.rollback()
        XCTAssertFalse(conn.inTransaction)
        XCTAssertEqual(try conn.query("SELECT count(*) FROM r"), [["0"]])

        // A failed transaction (PQTRANS_INERROR) rejects everything until it is rolled back.
        try conn.execute("BEGIN; INSERT INTO r VALUES (2)")
        XCTAssertThrowsError(try conn.execute("SELECT 1/0"))
        XCTAssertTrue(conn.inTransaction)
        let aborted = try XCTUnwrap(expectPostgresError { _ = try conn.query("SELECT 1") })
        XCTAssertEqual(aborted.sqlState, "25P02")
        XCTAssertFalse(dialect.isDisconnect(aborted, connection: conn))
        try dialect.doRollback(conn)
        XCTAssertFalse(conn.inTransaction)
        XCTAssertEqual(try conn.query("SELECT count(*) FROM r"), [["0"]])
    }

    func testCommitPersistsForOtherConnections() throws {
        let conn = try connect()
        defer { try? conn.close() }
        let other = try connect()
        defer { try? other.close() }
        let table = "dbpool_commit_\(UInt32.random(in: 0...UInt32.max))"
        try conn.execute("CREATE TABLE \(table)(x int)")
        defer { try? conn.execute("DROP TABLE IF EXISTS \(table)") }
        try conn.execute("BEGIN; INSERT INTO \(table) VALUES (1)")
        XCTAssertEqual(try other.query("SELECT count(*) FROM \(table)"), [["0"]])
        try dialect.doCommit(conn)
        XCTAssertFalse(conn.inTransaction)
        XCTAssertEqual(try other.query("SELECT count(*) FROM \(table)"), [["1"]])
    }

    // MARK: - identity, close

    func testBackendPID() throws {
        let conn = try connect()
        defer { try? conn.close() }
        let other = try connect()
        defer { try? other.close() }
        XCTAssertGreaterThan(conn.backendPID, 0)
        XCTAssertEqual(try conn.query("SELECT pg_backend_pid()"), [["\(conn.backendPID)"]])
        XCTAssertNotEqual(conn.backendPID, other.backendPID)
    }

    func testCloseIsIdempotentAndUseAfterCloseIsADisconnect() throws {
        let conn = try connect()
        XCTAssertTrue(try dialect.doPing(conn))
        try conn.close()
        try conn.close()
        try dialect.doClose(conn)
        try dialect.doTerminate(conn)
        XCTAssertTrue(conn.isClosed)
        XCTAssertFalse(conn.isBroken)
        XCTAssertEqual(conn.backendPID, 0)
        let uses: [(String, () throws -> Void)] = [
            ("execute", { try conn.execute("SELECT 1") }),
            ("query", { _ = try conn.query("SELECT 1") }),
            ("rollback", { try conn.rollback() }),
            ("commit", { try conn.commit() })
        ]
        for (name, use) in uses {
            let error = try XCTUnwrap(expectPostgresError(use), name)
            XCTAssertEqual(error.sqlState, PostgresError.connectionDoesNotExist, name)
            XCTAssertTrue(dialect.isDisconnect(error, connection: conn), name)
        }
        XCTAssertFalse(try dialect.doPing(conn))
    }

    // MARK: - disconnects

    func testTerminatedBackendIsRecognisedAsDisconnect() throws {
        let victim = try connect()
        defer { try? victim.close() }
        let killer = try connect()
        defer { try? killer.close() }
        XCTAssertTrue(try dialect.doPing(victim))
        let pid = victim.backendPID
        try terminate(pid, using: killer)

        let error = try XCTUnwrap(expectPostgresError { _ = try victim.query("SELECT 1") })
        XCTAssertTrue(dialect.isDisconnect(error, connection: victim), "\(error)")
        // The error alone is enough too: 57P01 from the server, or 08006 set by the adapter.
        XCTAssertTrue(dialect.isDisconnect(error, connection: nil), "\(error)")
        XCTAssertTrue(victim.isBroken)
        XCTAssertFalse(try dialect.doPing(victim))
        XCTAssertThrowsError(try dialect.doRollback(victim)) { error in
            XCTAssertTrue(self.dialect.isDisconnect(error, connection: victim), "\(error)")
        }
        try dialect.doTerminate(victim)
        XCTAssertTrue(victim.isClosed)

        // A ping is the first thing to touch another terminated connection.
        let second = try connect()
        defer { try? second.close() }
        try terminate(second.backendPID, using: killer)
        XCTAssertFalse(try dialect.doPing(second))
    }

    func testServerRestartIsRecognisedAsDisconnect() throws {
        _ = try postgresURL()
        guard let command = ProcessInfo.processInfo.environment["DBPOOL_PG_RESTART_CMD"] else {
            throw XCTSkip("DBPOOL_PG_RESTART_CMD is not set (scripts/with-postgres sets it)")
        }
        let old = try connect()
        defer { try? old.close() }
        XCTAssertTrue(try dialect.doPing(old))

        let status = try runShell(command)
        XCTAssertEqual(status, 0, "restart command failed: \(command)")

        XCTAssertFalse(try dialect.doPing(old), "the old connection died with the old server")
        let fresh = try connect()
        defer { try? fresh.close() }
        XCTAssertEqual(try fresh.query("SELECT 1"), [["1"]])
    }

    /// Terminates backend `pid` and waits until it has gone.
    private func terminate(_ pid: Int32, using killer: PostgresConnection) throws {
        XCTAssertEqual(try killer.query("SELECT pg_terminate_backend(\(pid))"), [["t"]])
        let deadline = ContinuousClock.now + .seconds(10)
        while try killer.query("SELECT 1 FROM pg_stat_activity WHERE pid = \(pid)") != [] {
            guard ContinuousClock.now < deadline else {
                XCTFail("backend \(pid) still alive 10 s after pg_terminate_backend")
                return
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    // MARK: - resources

    func testResultsAreAlwaysFreed() throws {
        let conn = try connect()
        defer { try? conn.close() }
        // Each result holds about 2 KB; leaking 20,000 of them would add about 40 MB.
        let payload = "SELECT repeat('x', 2000), NULL"
        for _ in 0..<500 { _ = try conn.query(payload) }
        let before = residentBytes()
        for _ in 0..<10_000 {
            let rows = try conn.query(payload)
            XCTAssertEqual(rows.count, 1)
        }
        for _ in 0..<5_000 {
            // Error path: the failed PGresult must be cleared too.
            XCTAssertThrowsError(try conn.execute("SELECT * FROM no_such_table_\(String(repeating: "y", count: 40))"))
        }
        for _ in 0..<5_000 { try conn.execute("SET application_name = 'dbpool-leak-test'") }
        let after = residentBytes()
        // Under AddressSanitizer (scripts/test sets DBPOOL_ASAN) freed memory sits in a
        // quarantine, so resident size grows regardless; LeakSanitizer checks for unfreed results
        // in that run instead.
        if let before, let after, ProcessInfo.processInfo.environment["DBPOOL_ASAN"] == nil {
            XCTAssertLessThan(after - before, 16 << 20, "resident memory grew by \(after - before) bytes")
        }
        XCTAssertEqual(try conn.query("SELECT 1"), [["1"]])
    }

    /// The process's resident set size, from /proc (Linux); `nil` elsewhere.
    private func residentBytes() -> Int? {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
