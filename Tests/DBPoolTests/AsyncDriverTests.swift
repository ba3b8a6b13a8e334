@testable import DBPool
import DBPoolTesting
import Foundation
import XCTest

/// A pool over an async driver (``AsyncDialect`` and an async creator) keeps
/// the one lifecycle. Each scenario runs over the blocking ``MockDialect`` and the async
/// ``MockAsyncDialect`` through the async API, and the logs of events and dialect calls must match.
final class AsyncDriverTests: XCTestCase {
    private enum Driver { case blocking, async }

    private func makeQueuePool(
        _ driver: Driver, dbapi: MockDBAPI, log: MockCallLog, size: Int = 2, overflow: Int = 0,
        configure: (inout PoolOptions) -> Void = { _ in }
    ) async throws -> QueuePool<MockConnection> {
        var options = quietOptions
        configure(&options)
        let pool: QueuePool<MockConnection>
        switch driver {
        case .blocking:
            pool = try QueuePool(
                poolSize: size, maxOverflow: overflow, timeout: .seconds(5), options: options,
                dialect: MockDialect(log: log), creator: dbapi.creator())
        case .async:
            pool = try await QueuePool(
                poolSize: size, maxOverflow: overflow, timeout: .seconds(5), options: options,
                dialect: MockAsyncDialect(log: log), creator: dbapi.asyncCreator())
        }
        _ = EventRecorder(log: log).attach(to: pool.events)
        return pool
    }

    /// Runs `scenario` over both drivers and returns both logs.
    private func bothLogs(
        configure: @escaping (inout PoolOptions) -> Void = { _ in },
        _ scenario: (QueuePool<MockConnection>, MockDBAPI) async throws -> Void
    ) async throws -> (blocking: [String], async: [String]) {
        var logs: [[String]] = []
        for driver in [Driver.blocking, .async] {
            let log = MockCallLog(), dbapi = MockDBAPI()
            let pool = try await makeQueuePool(driver, dbapi: dbapi, log: log, configure: configure)
            try await scenario(pool, dbapi)
            logs.append(log.entries)
        }
        return (logs[0], logs[1])
    }

    // MARK: Same events, same order

    func testCheckoutAndReturnLogTheSameEventsInTheSameOrder() async throws {
        let (blocking, async) = try await bothLogs { pool, _ in
            for _ in 0..<2 {
                let fairy = try await pool.connect()
                await fairy.closeAndWait()
            }
            try await pool.withConnection { _ in }
            // withConnection's return is handed to the driver threads; wait for it to land.
            _ = await Harness.waitUntil { pool.checkedOut == 0 }
        }
        XCTAssertEqual(
            blocking,
            [
                "first_connect", "connect", "checkout", "reset", "R", "checkin",
                "checkout", "reset", "R", "checkin", "checkout", "reset", "R", "checkin"
            ])
        XCTAssertEqual(async, blocking)
    }

    func testPrePingReplacesADeadConnectionTheSameWay() async throws {
        let (blocking, async) = try await bothLogs(configure: { $0.prePing = true }) { pool, _ in
            let first = try await pool.connect()
            let connection = first.dbapiConnection!
            await first.closeAndWait()
            connection.failPing = .disconnect
            let second = try await pool.connect()
            XCTAssertNotIdentical(second.dbapiConnection, connection)
            await second.closeAndWait()
        }
        XCTAssertTrue(async.contains("P"))
        XCTAssertEqual(async, blocking)
    }

    func testDetachLogsTheSameEventsAndClosesTheConnection() async throws {
        let (blocking, async) = try await bothLogs { pool, _ in
            let fairy = try await pool.connect()
            let connection = fairy.dbapiConnection!
            fairy.detach()
            await fairy.closeAndWait()
            XCTAssertTrue(connection.closed)
            XCTAssertEqual(pool.checkedIn, 1)
        }
        XCTAssertTrue(async.contains("CL"))
        XCTAssertEqual(async, blocking)
    }

    func testInvalidationLogsTheSameEventsAndTerminatesTheConnection() async throws {
        let (blocking, async) = try await bothLogs { pool, dbapi in
            try await pool.withConnection { fairy in
                fairy.invalidate(MockDisconnectError("gone"))
            }
            // Off the pool's threads (an async driver's body runs where the caller runs) the
            // terminate is started, not waited for.
            let closed = await Harness.waitUntil { dbapi.connections.allSatisfy(\.closed) }
            XCTAssertTrue(closed)
            let fairy = try await pool.connect()
            XCTAssertEqual(dbapi.connectCount, 2, "the invalidated record reconnects")
            await fairy.closeAndWait()
        }
        XCTAssertEqual(blocking.filter { $0 != "T" }, async.filter { $0 != "T" })
        XCTAssertEqual(blocking.filter { $0 == "T" }.count, 1)
        XCTAssertEqual(async.filter { $0 == "T" }.count, 1)
    }

    func testADisconnectThrownByTheBodyInvalidatesThePoolTheSameWay() async throws {
        let (blocking, async) = try await bothLogs { pool, dbapi in
            let idle = try await pool.connect()
            try await pool.withConnection { _ in
                await idle.closeAndWait()
                do {
                    try await pool.withConnection { _ in throw MockDisconnectError("lost") }
                } catch is MockDisconnectError {}
            }
            _ = await Harness.waitUntil { dbapi.connections.contains(where: \.closed) }
            // The outer withConnection's return runs on the driver threads; let it finish, so the
            // next checkouts find both records back whichever driver is under test.
            _ = await Harness.waitUntil { pool.statistics.inUse == 0 }
            // Both connections predate the invalidation: each reconnects on its next checkout.
            let a = try await pool.connect(), b = try await pool.connect()
            XCTAssertEqual(dbapi.connectCount, 4)
            await a.closeAndWait()
            await b.closeAndWait()
        }
        XCTAssertEqual(blocking.filter { $0 != "T" && $0 != "CL" }, async.filter { $0 != "T" && $0 != "CL" })
    }

    // MARK: Counters

    func testCountersMatchTheBlockingDriver() async throws {
        var snapshots: [PoolStatistics] = []
        for driver in [Driver.blocking, .async] {
            let dbapi = MockDBAPI()
            let pool = try await makeQueuePool(driver, dbapi: dbapi, log: MockCallLog(), size: 1, overflow: 1)
            let a = try await pool.connect(), b = try await pool.connect()
            await a.closeAndWait()
            await b.closeAndWait()
            try await pool.withConnection { $0.invalidate() }
            snapshots.append(pool.statistics)
        }
        let (blocking, async) = (snapshots[0], snapshots[1])
        XCTAssertEqual(async.checkouts, blocking.checkouts)
        XCTAssertEqual(async.connectionsCreated, blocking.connectionsCreated)
        XCTAssertEqual(async.closes, blocking.closes)
        XCTAssertEqual(async.idle, blocking.idle)
        XCTAssertEqual(async.inUse, blocking.inUse)
        XCTAssertEqual(async.checkouts, 3)
    }

    // MARK: The blocking API is refused

    func testTheBlockingAPIThrowsUnsupportedOnEveryKind() async throws {
        let dbapi = MockDBAPI(), dialect = MockAsyncDialect()
        let pools: [any Pool<MockConnection>] = [
            try await QueuePool(options: quietOptions, dialect: dialect, creator: dbapi.asyncCreator()),
            try NullPool(options: quietOptions, dialect: dialect, creator: dbapi.asyncCreator()),
            try StaticPool(options: quietOptions, dialect: dialect, creator: dbapi.asyncCreator()),
            try AssertionPool(options: quietOptions, dialect: dialect, creator: dbapi.asyncCreator())
        ]
        for pool in pools {
            XCTAssertThrowsError(try blockingConnect(pool)) { error in
                guard case let .unsupported(message)? = error as? PoolError else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains("async driver"), message)
                XCTAssertTrue(message.contains("try await pool.connect()"), message)
            }
            // The async API works on the same pool.
            let fairy = try await pool.connect()
            XCTAssertNotNil(fairy.dbapiConnection)
            await fairy.closeAndWait()
        }
        XCTAssertEqual(dialect.callsOnDriverThreads, 0)
    }

    func testInlineDriverThreadsAreRefused() async throws {
        let options = PoolOptions(logHandler: .disabled, driverThreads: .inline)
        do {
            _ = try await QueuePool(options: options, dialect: MockAsyncDialect(), creator: MockDBAPI().asyncCreator())
            XCTFail("expected invalidArgument")
        } catch let PoolError.invalidArgument(message) {
            XCTAssertTrue(message.hasPrefix("driverThreads must be"), message)
            XCTAssertTrue(message.hasSuffix("got .inline"), message)
        }
        XCTAssertThrowsError(try NullPool(options: options, dialect: MockAsyncDialect(), creator: MockDBAPI().asyncCreator()))
    }

    // MARK: Lifecycle options

    func testMinIdlePreFillsBeforeTheInitialiserReturns() async throws {
        let dbapi = MockDBAPI()
        let pool = try await makeQueuePool(.async, dbapi: dbapi, log: MockCallLog(), size: 3) { $0.minIdle = 2 }
        XCTAssertEqual(dbapi.connectCount, 2)
        XCTAssertEqual(pool.checkedIn, 2)
        XCTAssertEqual(pool.statistics.checkouts, 0)
    }

    func testFailFastThrowsTheAsyncCreatorsError() async throws {
        let dbapi = MockDBAPI()
        dbapi.failNextConnects(1, with: MockError("refused"))
        do {
            _ = try await makeQueuePool(.async, dbapi: dbapi, log: MockCallLog()) {
                $0.minIdle = 2; $0.failFast = true
            }
            XCTFail("expected the creator's error")
        } catch let error as MockError {
            XCTAssertEqual(error, MockError("refused"))
        }
        XCTAssertEqual(dbapi.openConnections.count, 0)
    }

    func testKeepAlivePingsOnTheMaintenanceThreadAndReplacesDeadConnections() async throws {
        let dbapi = MockDBAPI(), clock = ManualClock(), log = MockCallLog()
        let pool = try await makeQueuePool(.async, dbapi: dbapi, log: log) {
            $0.clock = clock; $0.keepAlive = .seconds(30)
        }
        let a = try await pool.connect(), b = try await pool.connect()
        let dead = b.dbapiConnection!
        await a.closeAndWait()
        await b.closeAndWait()
        dead.failPing = .disconnect
        clock.advance(by: .seconds(31))
        let replaced = await Harness.waitUntil { dead.closed && dbapi.connectCount == 3 && pool.checkedIn == 2 }
        XCTAssertTrue(replaced)
        XCTAssertEqual(pool.statistics.closes[.invalidated], 1)
        XCTAssertTrue(log.entries.contains("P"))
    }

    func testMinIdleTopUpAfterRecreateRunsInTheBackground() async throws {
        let dbapi = MockDBAPI()
        let pool = try await makeQueuePool(.async, dbapi: dbapi, log: MockCallLog(), size: 3) { $0.minIdle = 2 }
        let recreated = pool.recreate()
        let filled = await Harness.waitUntil { recreated.checkedIn == 2 }
        XCTAssertTrue(filled)
        XCTAssertEqual(dbapi.connectCount, 4)
    }

    func testShutdownClosesEveryConnection() async throws {
        let dbapi = MockDBAPI()
        let pool = try await makeQueuePool(.async, dbapi: dbapi, log: MockCallLog(), size: 3) { $0.minIdle = 3 }
        let held = try await pool.connect()
        let task = Task { await pool.shutdown(gracePeriod: .seconds(5)) }
        await held.closeAndWait()
        let leftover = await task.value
        XCTAssertEqual(leftover, 0)
        XCTAssertEqual(dbapi.openConnections.count, 0)
    }

    // MARK: Where the driver runs

    func testTheBridgeRefusesACooperativeThreadAndServesAPoolThread() async throws {
        do {
            _ = try AsyncBridge.wait("ping") { true }
            XCTFail("a cooperative thread must not wait")
        } catch let PoolError.unsupported(message) {
            XCTAssertTrue(message.contains("pool's own threads"), message)
        }
        let executor = try DriverExecutor(maximumThreads: 1)
        let answer = try await executor.run {
            try AsyncBridge.wait("ping") { () async -> Int in
                await Task.yield()
                return DriverExecutor.current == nil ? 42 : -1
            }
        }
        XCTAssertEqual(answer, 42, "the async call itself runs off the driver threads")
    }

    func testAsyncDriverCallsNeverRunOnDriverThreadsAndBodiesStayPut() async throws {
        let dbapi = MockDBAPI(), dialect = MockAsyncDialect()
        let creatorOnDriverThread = Guarded(false)
        let pool = try await QueuePool(
            poolSize: 4, maxOverflow: 4, options: PoolOptions(prePing: true, logHandler: .disabled),
            dialect: dialect
        ) { () async throws -> MockConnection in
            if DriverExecutor.current != nil { creatorOnDriverThread.update { $0 = true } }
            return try dbapi.connect()
        }
        XCTAssertNil(pool.bodyExecutor)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    for _ in 0..<20 {
                        try await pool.withConnection { _ in
                            XCTAssertNil(DriverExecutor.current, "an async driver's body runs where the caller runs")
                            await Task.yield()
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        _ = await pool.shutdown(gracePeriod: .seconds(5))
        XCTAssertFalse(creatorOnDriverThread.value)
        XCTAssertEqual(dialect.callsOnDriverThreads, 0)
        XCTAssertEqual(dbapi.openConnections.count, 0)
        XCTAssertLessThanOrEqual(dbapi.connectCount, 8)
    }
}

/// The blocking checkout, called from outside any async context (as a thread would).
private func blockingConnect(_ pool: any Pool<MockConnection>) throws {
    try pool.connect().close()
}
