import DBPool
import DBPoolPostgresNIO
import DBPoolTesting
import Foundation
import PostgresNIO
import Synchronization
import XCTest

/// DBPoolPostgresNIO against a real PostgreSQL (scripts/with-postgres).
final class PostgresNIOPoolTests: XCTestCase {
    private func makePool(
        _ name: String, size: Int = 1, overflow: Int = 0, timeout: Duration = .seconds(5),
        configure: (inout PoolOptions) -> Void = { _ in }
    ) async throws -> QueuePool<PooledPostgresConnection> {
        let configuration = try serverConfiguration(applicationName: name)
        var options = PoolOptions(logHandler: .disabled)
        configure(&options)
        return try await QueuePool(
            poolSize: size, maxOverflow: overflow, timeout: timeout, options: options,
            dialect: PostgresNIODialect(),
            creator: PostgresNIODialect.creator(configuration: configuration, logger: quietLogger))
    }

    func testCheckoutAfterTerminateWithPrePingIsTransparent() async throws {
        let name = "dbpool-nio-preping"
        let pool = try await makePool(name) { $0.prePing = true }
        let first = try await backendPID(of: pool)
        try await terminateBackend(first)
        let second = try await backendPID(of: pool)
        XCTAssertNotEqual(first, second, "pre-ping found the dead connection and reconnected")
        XCTAssertEqual(pool.statistics.closes[.invalidated], 1)
        await pool.shutdown(gracePeriod: .seconds(5))
        try await assertNoBackendsLeft(name)
    }

    func testCheckoutAfterTerminateWithoutPrePingFailsOnceThenRecovers() async throws {
        let name = "dbpool-nio-noping"
        let pool = try await makePool(name)
        let first = try await backendPID(of: pool)
        try await terminateBackend(first)
        do {
            // The pool hands out the dead connection (nothing checks it): its query must fail, not
            // hang as a bare postgres-nio query does (UpstreamPostgresNIOTests).
            _ = try await finishes(within: .seconds(10), "the first query on the terminated connection") {
                try await backendPID(of: pool)
            }
            XCTFail("the dead connection's first query must fail")
        } catch is StillRunning {
            return
        } catch {
            XCTAssertTrue(PostgresNIODialect().isDisconnect(error, connection: nil), "a disconnect: \(String(reflecting: error))")
        }
        // The disconnect invalidated the connection (and the pool's older ones): the next works.
        let second = try await backendPID(of: pool)
        XCTAssertNotEqual(first, second)
        await pool.shutdown(gracePeriod: .seconds(5))
        try await assertNoBackendsLeft(name)
    }

    func testStatementsOnAConnectionTheServerClosedFailAtOnce() async throws {
        let name = "dbpool-nio-closed"
        let creator = PostgresNIODialect.creator(configuration: try serverConfiguration(applicationName: name), logger: quietLogger)
        let connection = try await creator()
        try await terminateBackend(try await backendPID(connection))
        // `closeFuture` completes once NIO has removed the channel's handlers: from here on a bare
        // postgres-nio query would never return. (Reading `underlying` marks the connection as
        // maybe in a transaction, so that the rollback below is really sent.)
        try await connection.underlying.closeFuture.get()
        XCTAssertTrue(connection.isClosed)
        let dialect = PostgresNIODialect()
        func assertFailsAsADisconnect(
            _ what: String, line: UInt = #line, _ operation: @escaping @Sendable () async throws -> Void
        ) async {
            do {
                try await finishes(within: .seconds(5), what, line: line, operation)
                XCTFail("\(what) on a closed connection must fail", line: line)
            } catch is StillRunning {
            } catch {
                XCTAssertEqual(error as? ChannelError, .ioOnClosedChannel, "\(what): \(String(reflecting: error))", line: line)
                XCTAssertTrue(dialect.isDisconnect(error, connection: connection), "\(what): a disconnect", line: line)
            }
        }
        await assertFailsAsADisconnect("query") { try await connection.query("SELECT 1") }
        await assertFailsAsADisconnect("withTransaction") { try await connection.withTransaction { _ in } }
        XCTAssertTrue(connection.mayHaveOpenTransaction)
        await assertFailsAsADisconnect("the dialect's rollback") { try await dialect.doRollback(connection) }
        let alive = try await finishes(within: .seconds(5), "the dialect's ping") { try await dialect.doPing(connection) }
        XCTAssertFalse(alive)
        try await dialect.doClose(connection)
    }

    func testResetOnReturnReallyRollsBack() async throws {
        let name = "dbpool-nio-reset"
        let table = "dbpool_nio_reset_\(UInt32.random(in: 0...UInt32.max))"
        let pool = try await makePool(name)
        try await pool.withConnection { fairy in
            let connection = fairy.dbapiConnection!
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (n int)"))
            XCTAssertFalse(connection.mayHaveOpenTransaction, "autocommit statements leave nothing to roll back")
        }
        let pidInTransaction = try await pool.withConnection { fairy in
            let connection = fairy.dbapiConnection!
            try await connection.query("BEGIN")
            try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(table) VALUES (1)"))
            XCTAssertTrue(connection.mayHaveOpenTransaction)
            return try await backendPID(connection)
        }
        try await pool.withConnection { fairy in
            let connection = fairy.dbapiConnection!
            let samePID = try await backendPID(connection)
            XCTAssertEqual(samePID, pidInTransaction, "the same connection")
            XCTAssertFalse(connection.mayHaveOpenTransaction)
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table)"))
            for try await count in rows.decode(Int.self) { XCTAssertEqual(count, 0, "the insert was rolled back") }
            // Its transaction was ended: this statement is not inside the old one.
            let state = try await connection.query("SELECT pg_current_xact_id_if_assigned() IS NULL")
            for try await idle in state.decode(Bool.self) { XCTAssertTrue(idle) }
            try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table)"))
        }
        // withTransaction commits.
        try await pool.withConnection { fairy in
            let value = try await fairy.dbapiConnection!.withTransaction { connection in
                try await backendPID(connection)
            }
            XCTAssertEqual(value, pidInTransaction)
            XCTAssertFalse(fairy.dbapiConnection!.mayHaveOpenTransaction)
        }
        await pool.shutdown(gracePeriod: .seconds(5))
        try await assertNoBackendsLeft(name)
    }

    /// On the pool's clock, moved by hand: with real time and a 40 ms recycle, a slow connect
    /// under load made the connection older than its recycle age before the test looked again.
    func testRecycleChangesTheBackend() async throws {
        let name = "dbpool-nio-recycle"
        let clock = ManualClock()
        let pool = try await makePool(name) {
            $0.recycle = .seconds(10); $0.clock = clock
        }
        let first = try await backendPID(of: pool)
        clock.advance(by: .seconds(9))
        let again = try await backendPID(of: pool)
        XCTAssertEqual(again, first, "reused before its recycle age")
        clock.advance(by: .seconds(2))
        let second = try await backendPID(of: pool)
        XCTAssertNotEqual(first, second, "recycled after 10 s")
        XCTAssertEqual(pool.statistics.closes[.recycledByAge], 1)
        await pool.shutdown(gracePeriod: .seconds(5))
        try await assertNoBackendsLeft(name)
    }

    func testAServerRestartWhile64TasksUseThePool() async throws {
        // Issue 15: this hung about one run in two on a loaded machine, with no pool thread
        // blocked. The restart closed a connection between its pre-ping and the body's query,
        // and postgres-nio never completes a query sent on a closed connection; the task held its
        // slot forever, so `workers` never finished. PooledPostgresConnection.send now fails such
        // a query (ioOnClosedChannel, a disconnect), and the pool replaces the connection.
        let name = "dbpool-nio-restart"
        let pool = try await makePool(name, size: 8, timeout: .seconds(5)) { $0.prePing = true }
        let tally = Tally()
        let workers = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<64 {
                    group.addTask {
                        while !tally.stop.load(ordering: .relaxed) {
                            do {
                                let one = try await pool.withConnection { fairy in
                                    let rows = try await fairy.dbapiConnection!.query("SELECT 1::int")
                                    var value = 0
                                    for try await n in rows.decode(Int.self) { value = n }
                                    return value
                                }
                                if one == 1 { tally.ok.add(1, ordering: .relaxed) } else { tally.wrong.add(1, ordering: .relaxed) }
                            } catch {
                                tally.failed.add(1, ordering: .relaxed)
                                try? await Task.sleep(for: .milliseconds(5))
                            }
                        }
                    }
                }
            }
        }
        func waitFor(_ target: Int) async {
            let deadline = ContinuousClock.now + .seconds(20)
            while tally.ok.load(ordering: .relaxed) < target && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        await waitFor(100)
        XCTAssertGreaterThanOrEqual(tally.ok.load(ordering: .relaxed), 100, "serves before the restart")
        try await restartServer()
        let before = tally.ok.load(ordering: .relaxed)
        await waitFor(before + 500)
        tally.stop.store(true, ordering: .relaxed)
        // Each worker finishes its current cycle, a few milliseconds; a worker stuck in a query
        // that never returns fails the test here instead of hanging the run.
        try await finishes(within: .seconds(10), "the 64 workers' last cycles") { await workers.value }
        XCTAssertGreaterThanOrEqual(tally.ok.load(ordering: .relaxed), before + 500, "recovered after the restart (failed: \(tally.failed.load(ordering: .relaxed)))")
        XCTAssertEqual(tally.wrong.load(ordering: .relaxed), 0)
        // The last returns are handed to the driver threads; give them a moment to land.
        for _ in 0..<200 where pool.checkedOut > 0 { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(pool.checkedOut, 0)
        let backends = try await backendCount(name)
        XCTAssertLessThanOrEqual(backends, 8, "never more than poolSize backends")
        await pool.shutdown(gracePeriod: .seconds(5))
        try await assertNoBackendsLeft(name)
    }

    func testCreatorRefusesBadArguments() {
        XCTAssertThrowsError(try PostgresNIODialect.creator(host: "db", port: 0, username: "u", password: nil, database: nil)) { error in
            XCTAssertEqual("\(error)".contains("port must be between 1 and 65535; got 0"), true, "\(error)")
        }
        XCTAssertThrowsError(try PostgresNIODialect.creator(host: "", username: "u", password: nil, database: nil))
    }
}

/// The restart test's shared counts.
private final class Tally: Sendable {
    let ok = Atomic<Int>(0), wrong = Atomic<Int>(0), failed = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
}
