import XCTest
import Foundation
import DBPool
import DBPoolTesting

/// Issue 7: warm pools, idle and lifetime limits, bounded and backed-off connecting, graceful
/// shutdown, and the maintenance thread, driven by ManualClock and MockDBAPI.
final class LifecycleTests: XCTestCase {
    private func makePool(
        _ size: Int = 4, _ overflow: Int = 0, timeout: Duration? = .seconds(5),
        dbapi: MockDBAPI, clock: ManualClock = ManualClock(), configure: (inout PoolOptions) -> Void = { _ in }
    ) throws -> QueuePool<MockConnection> {
        var options = PoolOptions(clock: clock, logHandler: .disabled)
        configure(&options)
        return try QueuePool(
            poolSize: size, maxOverflow: overflow, timeout: timeout, options: options,
            dialect: MockDialect(), creator: dbapi.creator())
    }

    // MARK: minIdle and failFast

    func testMinIdleOpensConnectionsAtConstruction() throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(dbapi: dbapi) { $0.minIdle = 2 }
        XCTAssertEqual(dbapi.connections.count, 2)
        XCTAssertEqual(pool.checkedIn, 2)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(pool.statistics.checkouts, 0, "pre-fill is not a checkout")
    }

    func testFailFastThrowsTheConnectErrorAndLeavesNothingOpen() throws {
        let dbapi = MockDBAPI()
        dbapi.failNextConnects(1, with: MockError("refused"))
        XCTAssertThrowsError(
            try makePool(dbapi: dbapi) {
                $0.minIdle = 3; $0.failFast = true
            }
        ) { error in
            XCTAssertEqual(error as? MockError, MockError("refused"))
        }
        XCTAssertEqual(dbapi.openConnections.count, 0)
    }

    func testWithoutFailFastThePoolFillsItselfLater() throws {
        let dbapi = MockDBAPI()
        dbapi.shutdown(true)
        let pool = try makePool(dbapi: dbapi) { $0.minIdle = 2 }
        XCTAssertEqual(pool.checkedIn, 0)
        dbapi.shutdown(false)
        XCTAssertTrue(Harness.eventually { pool.checkedIn == 2 }, "the maintenance thread tops up minIdle")
        XCTAssertEqual(pool.checkedOut, 0)
    }

    // MARK: idleTimeout

    func testIdleTimeoutClosesIdleConnectionsAboveMinIdle() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try makePool(dbapi: dbapi, clock: clock) {
            $0.minIdle = 1; $0.idleTimeout = .seconds(60)
        }
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)
        let fairies = try (0..<3).map { _ in try pool.connect() }
        fairies.forEach { $0.close() }
        // While all three were out, the maintenance thread may have started one more for minIdle;
        // one in flight shows in `connecting`, and none starts now that three are idle.
        XCTAssertTrue(Harness.eventually { pool.statistics.connecting == 0 })
        let idleBefore = pool.checkedIn
        XCTAssertTrue((3...4).contains(idleBefore), "\(idleBefore)")
        clock.advance(by: .seconds(59))
        XCTAssertFalse(Harness.eventually(.milliseconds(300)) { pool.checkedIn < idleBefore }, "not before the timeout")
        clock.advance(by: .seconds(2))
        // The idle store shrinks under the lock first; the closes follow outside it, and the
        // slots are given back (checkedOut back to 0) only once every close has finished.
        XCTAssertTrue(
            Harness.eventually {
                pool.checkedIn == 1 && pool.checkedOut == 0 && pool.statistics.closes[.idleTimeout] == idleBefore - 1
            }, "closed down to minIdle")
        XCTAssertEqual(recorder.count(.close), idleBefore - 1)
        XCTAssertEqual(dbapi.openConnections.count, 1)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    func testUsedConnectionsDoNotIdleOut() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try makePool(dbapi: dbapi, clock: clock) { $0.idleTimeout = .seconds(60) }
        try pool.connect().close()
        for _ in 0..<5 {
            clock.advance(by: .seconds(40))
            try pool.connect().close()  // used every 40 s, so never idle for 60 s
        }
        XCTAssertFalse(Harness.eventually(.milliseconds(300)) { pool.checkedIn == 0 })
        XCTAssertEqual(dbapi.connections.count, 1)
    }

    // MARK: Lifetime: jitter and maxUsage

    func testRecycleJitterSpreadsExpiry() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try makePool(20, dbapi: dbapi, clock: clock) {
            $0.recycle = .seconds(100); $0.recycleJitter = 0.5
        }
        let first = try (0..<20).map { _ in try pool.connect() }
        first.forEach { $0.close() }
        clock.advance(by: .seconds(75))  // between the shortest (50 s) and the full (100 s) age
        let second = try (0..<20).map { _ in try pool.connect() }
        second.forEach { $0.close() }
        let recycled = dbapi.connections.count - 20
        XCTAssertGreaterThan(recycled, 0, "some connections drew an age under 75 s")
        XCTAssertLessThan(recycled, 20, "and some over it: they do not all expire together")
        XCTAssertEqual(pool.statistics.closes[.recycledByAge], recycled)
    }

    func testJitterOffMeansExactRecycleAge() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try makePool(5, dbapi: dbapi, clock: clock) { $0.recycle = .seconds(100) }
        try (0..<5).map { _ in try pool.connect() }.forEach { $0.close() }
        clock.advance(by: .seconds(100))
        try (0..<5).map { _ in try pool.connect() }.forEach { $0.close() }
        XCTAssertEqual(dbapi.connections.count, 5, "100 s is not strictly greater than 100 s")
    }

    func testMaxUsageRecyclesAfterNCheckouts() throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(1, dbapi: dbapi) { $0.maxUsage = 3 }
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)
        var ids: [Int] = []
        for _ in 0..<7 {
            let fairy = try pool.connect()
            ids.append(fairy.dbapiConnection!.id)
            fairy.close()
        }
        XCTAssertEqual(Set(ids[0..<3]).count, 1)
        XCTAssertEqual(Set(ids[3..<6]).count, 1)
        XCTAssertNotEqual(ids[2], ids[3])
        XCTAssertNotEqual(ids[5], ids[6])
        XCTAssertEqual(dbapi.connections.count, 3)
        XCTAssertEqual(pool.statistics.closes[.maxUsage], 2)
        XCTAssertEqual(recorder.count(.invalidate), 0, "a usage recycle is not an invalidation")
    }

    // MARK: keepAlive

    func testKeepAlivePingsIdleConnectionsAndReplacesDeadOnes() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try makePool(dbapi: dbapi, clock: clock) { $0.keepAlive = .seconds(30) }
        let a = try pool.connect()
        let b = try pool.connect()
        let healthy = a.dbapiConnection!
        let dead = b.dbapiConnection!
        a.close()
        b.close()
        dead.failPing = .disconnect
        healthy.resetCalls()
        clock.advance(by: .seconds(31))
        XCTAssertTrue(Harness.eventually { dead.closed && dbapi.connections.count == 3 && pool.checkedIn == 2 })
        XCTAssertTrue(healthy.calls.contains("cursor()"), "the healthy connection was pinged")
        XCTAssertFalse(healthy.closed)
        XCTAssertEqual(pool.statistics.closes[.invalidated], 1)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    /// Before: each keep-alive ping came back through the return path, which restarted the idle
    /// timer, so with keepAlive < idleTimeout an unused connection never idled out. A ping is not
    /// a use.
    func testKeepAlivePingsDoNotRestartTheIdleTimer() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try makePool(dbapi: dbapi, clock: clock) {
            $0.keepAlive = .seconds(30)
            $0.idleTimeout = .seconds(60)
        }
        let connection = try pool.withConnection { $0.connection }
        clock.advance(by: .seconds(31))
        XCTAssertTrue(Harness.eventually { connection.calls.contains("cursor()") }, "pinged at 31 s")
        XCTAssertFalse(connection.closed)
        clock.advance(by: .seconds(30))
        XCTAssertTrue(Harness.eventually { connection.closed }, "unused for 61 s: closed by the idle timeout")
        XCTAssertEqual(pool.statistics.closes[.idleTimeout], 1)
        XCTAssertEqual(pool.checkedIn, 0)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    // MARK: maxConnecting and backoff

    func testAtMostMaxConnectingConnectsRunAtOnce() throws {
        let dbapi = MockDBAPI()
        let inFlight = Guarded(0)
        let maxInFlight = Guarded(0)
        let gate = DispatchSemaphore(value: 0)
        dbapi.beforeConnect = { _ in
            let now = inFlight.update {
                $0 += 1; return $0
            }
            maxInFlight.update { $0 = max($0, now) }
            gate.wait()
            inFlight.update { $0 -= 1 }
        }
        let pool = try makePool(10, dbapi: dbapi) { $0.maxConnecting = 2 }
        let done = Guarded(0)
        let threads = (0..<5).map { _ in Harness.spawn { if let f = try? pool.connect() { done.update { $0 += 1 }; f.close() } } }
        XCTAssertTrue(Harness.eventually { inFlight.value == 2 && pool.waiting == 3 })
        for _ in 0..<5 { gate.signal() }
        for thread in threads { XCTAssertTrue(thread.finished()) }
        XCTAssertEqual(done.value, 5)
        XCTAssertEqual(maxInFlight.value, 2)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(pool.checkedIn, dbapi.connections.count, "a connection returned meanwhile served a waiter instead of a new connect")
        XCTAssertLessThanOrEqual(dbapi.connections.count, 5)
    }

    /// Before: reconnects of existing records (here, after `recycle`) ran in the record, outside
    /// the state machine: four at once despite `maxConnecting: 2`, with `connecting` reading 0.
    func testReconnectsCountAgainstMaxConnectingAndShowInConnecting() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try makePool(4, dbapi: dbapi, clock: clock) {
            $0.maxConnecting = 2
            $0.recycle = .seconds(60)
        }
        let warm = try (0..<4).map { _ in try pool.connect() }
        warm.forEach { $0.close() }
        clock.advance(by: .seconds(61))
        let inFlight = Guarded(0), maxInFlight = Guarded(0)
        let gate = DispatchSemaphore(value: 0)
        dbapi.beforeConnect = { _ in
            let now = inFlight.update {
                $0 += 1; return $0
            }
            maxInFlight.update { $0 = max($0, now) }
            gate.wait()
            inFlight.update { $0 -= 1 }
        }
        let threads = (0..<4).map { _ in Harness.spawn { try? pool.connect().close() } }
        XCTAssertTrue(Harness.eventually { inFlight.value == 2 && pool.waiting == 2 })
        XCTAssertEqual(pool.statistics.connecting, 2)
        for _ in 0..<4 { gate.signal() }
        for thread in threads { XCTAssertTrue(thread.finished()) }
        XCTAssertEqual(maxInFlight.value, 2)
        XCTAssertEqual(dbapi.connections.count, 4 + 4, "each recycled record reconnected once")
        XCTAssertEqual(pool.statistics.connecting, 0)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    /// Before: during a backoff, a checkout that popped a record without a connection connected
    /// at once and got the creator's error. Now it waits for the next attempt, as a checkout that
    /// needs a new record does, and times out at its deadline.
    func testReconnectsOfPooledRecordsWaitForTheBackoff() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try makePool(1, timeout: .seconds(1), dbapi: dbapi, clock: clock) {
            $0.connectBackoff = ConnectBackoff(initial: .seconds(60), maximum: .seconds(60))
        }
        try pool.connect().invalidate()
        dbapi.shutdown(true)
        XCTAssertThrowsError(try pool.connect()) { XCTAssertTrue($0 is MockError, "the first attempt gets the creator's error") }
        XCTAssertEqual(dbapi.connectCount, 2)
        let failure = Guarded<String?>(nil)
        let waiter = Harness.spawn { do { _ = try pool.connect() } catch { failure.update { $0 = "\(error)" } } }
        XCTAssertTrue(Harness.eventually { pool.waiting == 1 })
        clock.advance(by: .seconds(1))
        XCTAssertTrue(waiter.finished())
        XCTAssertTrue(failure.value?.hasPrefix("QueuePool limit of size 1") == true, "a timeout, not the creator's error: \(failure.value ?? "")")
        XCTAssertEqual(dbapi.connectCount, 2, "no reconnect during the backoff")
    }

    /// Before: minIdle counted records, so after an invalidation the pool reported one idle
    /// record, had no open connection, and never topped up.
    func testMinIdleCountsConnectionsNotRecords() throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(1, dbapi: dbapi) { $0.minIdle = 1 }
        XCTAssertEqual(dbapi.openConnections.count, 1)
        try pool.connect().invalidate()
        XCTAssertTrue(Harness.eventually { dbapi.openConnections.count == 1 }, "the idle record was reconnected")
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertEqual(pool.statistics.connecting, 0)
    }

    func testWhileTheDatabaseIsDownWaitersTimeOutAtTheirDeadline() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try makePool(2, timeout: .milliseconds(80), dbapi: dbapi, clock: clock) {
            $0.connectBackoff = ConnectBackoff(initial: .seconds(60), maximum: .seconds(60))
        }
        dbapi.shutdown(true)
        XCTAssertThrowsError(try pool.connect()) { XCTAssertEqual($0 as? MockError, MockError("connect failed"), "the first failure is the creator's own error") }
        let failure = Guarded<String?>(nil)
        let waiter = Harness.spawn {
            do { _ = try pool.connect() } catch { failure.update { $0 = "\(error)" } }
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 1 })
        // The deadline is on the pool's clock: while the test holds it still, nobody times out.
        XCTAssertFalse(Harness.eventually(.milliseconds(30)) { pool.waiting == 0 })
        clock.advance(by: .milliseconds(80))
        XCTAssertTrue(waiter.finished(within: 5), "released by one advance past the deadline")
        XCTAssertTrue(failure.value?.hasPrefix("QueuePool limit of size 2 overflow -2 reached, connection timed out, timeout 0.08") == true, "\(failure.value ?? "no error")")
        let stats = pool.statistics
        XCTAssertEqual(stats.lastConnectError as? MockError, MockError("connect failed"), "the cause tells 'database down' from 'exhausted'")
        XCTAssertEqual(stats.consecutiveConnectFailures, 1)
        XCTAssertEqual(stats.timeouts, 1)
        XCTAssertEqual(dbapi.connectCount, 1, "no second attempt during the backoff")
    }

    func testNoThunderingHerdWhenTheDatabaseComesBack() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        // The waiters' timeout is on the pool's clock too, so it must outlast the 7 s advanced below.
        let pool = try makePool(8, timeout: .seconds(60), dbapi: dbapi, clock: clock) {
            $0.connectBackoff = ConnectBackoff(initial: .seconds(1), maximum: .seconds(8), jitter: 0)
        }
        dbapi.shutdown(true)
        XCTAssertThrowsError(try pool.connect())
        let served = Guarded(0)
        let threads = (0..<8).map { _ in
            Harness.spawn { if let f = try? pool.connect() { served.update { $0 += 1 }; f.close() } }
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 8 })
        // Time frozen inside the backoff window: eight waiters, but no connection attempts.
        XCTAssertFalse(Harness.eventually(.milliseconds(200)) { dbapi.connectCount > 1 })
        // Each backoff step allows exactly one attempt (a background probe) while the database
        // stays down; the waiters do not see its error, they keep waiting.
        clock.advance(by: .seconds(1))
        XCTAssertTrue(Harness.eventually { dbapi.connectCount == 2 })
        XCTAssertFalse(Harness.eventually(.milliseconds(200)) { dbapi.connectCount > 2 }, "the next wait is 2 s")
        clock.advance(by: .seconds(2))
        XCTAssertTrue(Harness.eventually { dbapi.connectCount == 3 })
        XCTAssertEqual(pool.statistics.consecutiveConnectFailures, 3)
        XCTAssertEqual(pool.waiting, 8)
        // The database comes back: one probe succeeds, then everyone is served.
        let inFlight = Guarded(0)
        let maxInFlight = Guarded(0)
        dbapi.shutdown(false)
        dbapi.beforeConnect = { _ in
            let now = inFlight.update {
                $0 += 1; return $0
            }
            maxInFlight.update { $0 = max($0, now) }
            usleep(2_000)
            inFlight.update { $0 -= 1 }
        }
        clock.advance(by: .seconds(4))
        for thread in threads { XCTAssertTrue(thread.finished(within: 20)) }
        XCTAssertEqual(served.value, 8)
        XCTAssertLessThanOrEqual(maxInFlight.value, 2, "recovery connects within maxConnecting")
        XCTAssertEqual(pool.statistics.consecutiveConnectFailures, 0)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    // MARK: Shutdown

    func testShutdownFailsWaitersRejectsNewCheckoutsAndClosesReturns() throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(1, timeout: nil, dbapi: dbapi)
        let held = try pool.connect()
        let waiterError = Guarded<String?>(nil)
        let waiter = Harness.spawn {
            do { _ = try pool.connect() } catch { waiterError.update { $0 = "\(error)" } }
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 1 })
        let returned = Harness.spawn {
            usleep(20_000)
            held.close()
        }
        let leftover = pool.shutdown(gracePeriod: .seconds(5))
        XCTAssertEqual(leftover, 0)
        XCTAssertTrue(waiter.finished())
        XCTAssertTrue(returned.finished())
        XCTAssertEqual(waiterError.value, PoolError.shutDown.description)
        XCTAssertThrowsError(try pool.connect()) { XCTAssertEqual(($0 as? PoolError)?.description, PoolError.shutDown.description) }
        XCTAssertTrue(dbapi.connections.allSatisfy(\.closed))
        XCTAssertEqual(pool.statistics.closes[.shutdown], 1)
        XCTAssertTrue(pool.isShutDown)
        pool.dispose()  // harmless afterwards
        let fresh = pool.recreate()
        let fairy = try fresh.connect()
        XCTAssertTrue(fairy.isValid, "recreate() gives a running pool")
        fairy.close()
    }

    func testShutdownGracePeriodEndsWithConnectionsStillOut() async throws {
        let dbapi = MockDBAPI()
        let messages = Guarded<[String]>([])
        var options = PoolOptions(logHandler: PoolLogHandler(level: .warning) { m in messages.update { $0.append(m.message) } })
        options.idleTimeout = .seconds(60)
        let pool = try QueuePool(poolSize: 2, maxOverflow: 0, options: options, dialect: MockDialect(), creator: dbapi.creator())
        let kept = try await pool.connect()
        let start = ContinuousClock.now
        let leftover = await pool.shutdown(gracePeriod: .milliseconds(30))
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(25))
        XCTAssertEqual(leftover, 1)
        XCTAssertTrue(messages.value.contains { $0.contains("still checked out at DBPoolTests/LifecycleTests.swift:") }, "\(messages.value)")
        XCTAssertFalse(kept.dbapiConnection!.closed, "not closed under its holder's feet")
        await kept.closeAndWait()
        XCTAssertTrue(dbapi.connections[0].closed, "closed when it came back")
        XCTAssertEqual(pool.checkedOut, 0)
    }

    func testADroppedPoolIsFreedAndClosesItsIdleConnections() throws {
        let dbapi = MockDBAPI()
        weak var weakPool: QueuePool<MockConnection>?
        do {
            let pool = try makePool(dbapi: dbapi)
            weakPool = pool
            let fairies = try (0..<3).map { _ in try pool.connect() }
            fairies.forEach { $0.close() }
            XCTAssertEqual(dbapi.openConnections.count, 3)
        }
        XCTAssertNil(weakPool, "nothing keeps a pool alive once its fairies are gone")
        XCTAssertEqual(dbapi.openConnections.count, 0, "its idle connections were closed")
    }

    func testMaintenanceThreadDoesNotKeepThePoolAlive() throws {
        weak var weakPool: QueuePool<MockConnection>?
        do {
            let pool = try makePool(dbapi: MockDBAPI()) {
                $0.idleTimeout = .seconds(1); $0.minIdle = 1
            }
            weakPool = pool
            try pool.connect().close()
        }
        XCTAssertTrue(Harness.eventually { weakPool == nil })
    }
}
