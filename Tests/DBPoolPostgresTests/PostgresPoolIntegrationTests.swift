import DBPool
import DBPoolPostgres
import Foundation
import Synchronization
import XCTest

/// A counter shared with `@Sendable` creator closures.
final class Counter: Sendable {
    private let value = Mutex(0)
    /// Adds one and returns the new value.
    @discardableResult func increment() -> Int {
        value.withLock {
            $0 += 1; return $0
        }
    }
    var current: Int { value.withLock { $0 } }
}

/// ``QueuePool`` driving real ``PostgresConnection``s through ``PostgresDialect``.
final class PostgresPoolIntegrationTests: XCTestCase {
    private func makePool(prePing: Bool) throws -> (QueuePool<PostgresConnection>, Counter) {
        let url = try postgresURL()
        let created = Counter()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, timeout: .seconds(30),
            options: PoolOptions(prePing: prePing, logHandler: .disabled),
            dialect: PostgresDialect()
        ) {
            created.increment()
            return try PostgresConnection(url: url)
        }
        return (pool, created)
    }

    /// Terminates backend `pid` from a separate connection and waits until it has gone.
    private func terminate(_ pid: Int32) throws {
        let admin = try PostgresConnection(url: try postgresURL())
        defer { try? admin.close() }
        XCTAssertEqual(try admin.query("SELECT pg_terminate_backend(\(pid))"), [["t"]])
        let deadline = ContinuousClock.now + .seconds(10)
        while try admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = \(pid)") != [] {
            guard ContinuousClock.now < deadline else { return XCTFail("backend \(pid) still alive after 10 s") }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    func testPrePingReplacesATerminatedConnection() throws {
        let (pool, created) = try makePool(prePing: true)
        defer { pool.dispose() }
        let firstPID = try pool.withConnection { $0.backendPID }
        XCTAssertGreaterThan(firstPID, 0)
        try terminate(firstPID)

        let (secondPID, rows) = try pool.withConnection { fairy in
            (fairy.backendPID, try XCTUnwrap(fairy.dbapiConnection).query("SELECT 1"))
        }
        XCTAssertNotEqual(secondPID, firstPID)
        XCTAssertEqual(rows, [["1"]])
        XCTAssertEqual(created.current, 2)
    }

    func testWithoutPrePingTheDisconnectSurfacesOnceAndThePoolRecovers() throws {
        let (pool, created) = try makePool(prePing: false)
        defer { pool.dispose() }
        let firstPID = try pool.withConnection { $0.backendPID }
        try terminate(firstPID)

        XCTAssertThrowsError(try pool.withConnection { try XCTUnwrap($0.dbapiConnection).query("SELECT 1") }) { error in
            XCTAssertTrue(PostgresDialect().isDisconnect(error, connection: nil), "\(error)")
        }
        let secondPID = try pool.withConnection { $0.backendPID }
        XCTAssertNotEqual(secondPID, firstPID, "the dead connection was invalidated, not pooled")
        XCTAssertEqual(created.current, 2)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    func testResetOnReturnRollsBack() throws {
        let (pool, _) = try makePool(prePing: false)
        defer { pool.dispose() }
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        // Separate calls: statements before a BEGIN in one simple query join its transaction.
        try conn.execute("CREATE TEMP TABLE reset_t(x int)")
        try conn.execute("BEGIN; INSERT INTO reset_t VALUES (1)")
        XCTAssertTrue(fairy.inTransaction)
        fairy.close()
        XCTAssertFalse(conn.inTransaction)

        let rows = try pool.withConnection { fairy in
            XCTAssertTrue(fairy.dbapiConnection === conn)
            return try conn.query("SELECT count(*) FROM reset_t")
        }
        XCTAssertEqual(rows, [["0"]])
    }

    func testAsyncCheckoutsShareThePool() async throws {
        let url = try postgresURL()
        let pool = try QueuePool(
            poolSize: 2, maxOverflow: 0, timeout: .seconds(30),
            options: PoolOptions(logHandler: .disabled), dialect: PostgresDialect()
        ) {
            try PostgresConnection(url: url)
        }
        defer { pool.dispose() }
        let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await pool.withConnection { fairy in
                        _ = try XCTUnwrap(fairy.dbapiConnection).query("SELECT pg_sleep(0.01)")
                        return fairy.backendPID
                    }
                }
            }
            var pids: Set<Int32> = []
            for try await pid in group { pids.insert(pid) }
            return pids
        }
        XCTAssertLessThanOrEqual(pids.count, 2, "at most poolSize server connections were used")
        XCTAssertEqual(pool.checkedOut, 0)
    }
}
