import DBPool
import DBPoolTesting
import Dispatch
import XCTest

/// Where async callers' driver work runs: on the pool's own threads, never on the
/// caller's cooperative thread. These tests check the mechanism (which thread ran each call), not
/// timings.
final class DriverThreadsTests: XCTestCase {
    /// Records, for each driver call, whether it ran on a pool-owned driver thread.
    final class ThreadLog: Sendable {
        private let entries = Guarded<[String]>([])
        func note(_ call: String) {
            let place = DriverExecutor.current == nil ? "caller" : "driver"
            entries.update { $0.append("\(call)@\(place)") }
        }
        var value: [String] { entries.value }
    }

    /// MockDialect's calls, each noted in a ``ThreadLog`` first.
    struct LoggingDialect: Dialect {
        let log: ThreadLog
        func doRollback(_ c: MockConnection) throws { log.note("rollback"); try c.rollback() }
        func doCommit(_ c: MockConnection) throws { log.note("commit"); try c.commit() }
        func doClose(_ c: MockConnection) throws { log.note("close"); try c.close() }
        func doPing(_ c: MockConnection) throws -> Bool { log.note("ping"); return true }
    }

    private func makePool(_ log: ThreadLog, size: Int = 2, overflow: Int = 0, options: PoolOptions = PoolOptions(prePing: true)) throws -> QueuePool<MockConnection> {
        var options = options
        options.logHandler = quietOptions.logHandler
        return try QueuePool(poolSize: size, maxOverflow: overflow, options: options, dialect: LoggingDialect(log: log)) {
            log.note("connect")
            return MockConnection()
        }
    }

    func testAsyncWithConnectionRunsCreatorPingResetAndBodyOnThePoolsThreads() async throws {
        let log = ThreadLog()
        let pool = try makePool(log)
        for _ in 0..<2 {
            try await pool.withConnection { fairy in
                log.note("body")
                XCTAssertTrue(DriverExecutor.current === pool.driverExecutor)
                try fairy.connection.execute("select 1")
            }
        }
        XCTAssertEqual(log.value, ["connect@driver", "body@driver", "rollback@driver", "ping@driver", "body@driver", "rollback@driver"])
        XCTAssertEqual(pool.checkedIn, 1)
    }

    func testTheLeaseFormsCloseReturnsAtOnceAndResetsOnThePoolsThreads() async throws {
        let log = ThreadLog()
        let pool = try makePool(log, options: PoolOptions())
        let fairy = try await pool.connect()
        fairy.close()
        // Closed as far as the caller can tell, at once; the return itself runs on a driver thread.
        XCTAssertNil(fairy.dbapiConnection)
        XCTAssertNil(fairy.record)
        XCTAssertFalse(fairy.isValid)
        let returned = await Harness.waitUntil { pool.checkedIn == 1 }
        XCTAssertTrue(returned)
        XCTAssertEqual(log.value, ["connect@driver", "rollback@driver"])
        // An idle connection with nothing due is handed over without a hop; closeAndWait waits.
        let again = try await pool.connect()
        await again.closeAndWait()
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertEqual(log.value, ["connect@driver", "rollback@driver", "rollback@driver"])
    }

    func testADroppedAsyncFairyIsReturnedFromTheDriverThreads() async throws {
        let log = ThreadLog()
        let pool = try makePool(log, options: PoolOptions())
        do {
            _ = try await pool.connect()
        }
        let returned = await Harness.waitUntil { pool.checkedIn == 1 }
        XCTAssertTrue(returned)
        XCTAssertEqual(log.value, ["connect@driver", "rollback@driver"])
    }

    func testInlineRunsDriverWorkWhereTheCallerRuns() async throws {
        let log = ThreadLog()
        let pool = try makePool(log, options: PoolOptions(prePing: true, driverThreads: .inline))
        XCTAssertNil(pool.driverExecutor)
        try await pool.withConnection { _ in log.note("body") }
        XCTAssertEqual(log.value, ["connect@caller", "body@caller", "rollback@caller"])
    }

    /// The bug this fixes: with one cooperative thread per core, blocking bodies ran at most two
    /// at a time and starved every other task. Eight connections' bodies must all be running at
    /// once; each waits (up to 5 s) for the other seven before it returns.
    func testEveryConnectionCanBeBusyAtOnceWithBlockingBodies() async throws {
        let log = ThreadLog()
        let pool = try makePool(log, size: 8, options: PoolOptions())
        let inside = Guarded(0)
        let allInside = DispatchSemaphore(value: 0)
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await pool.withConnection { _ in
                        if inside.update({
                            $0 += 1; return $0
                        }) == 8 {
                            for _ in 0..<8 { allInside.signal() }
                        }
                        // A blocking wait, as a driver call waiting for the network would be.
                        return allInside.wait(timeout: .now() + 5) == .success
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(results, Array(repeating: true, count: 8), "not every body ran at once")
    }

    actor Counter {
        var count = 0
        var ranOnDriverThread = 0

        /// The body touches the actor's state: this compiles only because `withConnection` takes
        /// the caller's isolation.
        func bump(_ pool: QueuePool<MockConnection>) async throws -> sending NotSendable {
            try await pool.withConnection { fairy in
                count += 1
                if DriverExecutor.current != nil { ranOnDriverThread += 1 }
                return NotSendable(id: fairy.connection.id)
            }
        }
    }

    final class NotSendable {
        let id: Int
        init(id: Int) { self.id = id }
    }

    func testWithConnectionFromAnActorKeepsItsIsolationAndReturnsANonSendableValue() async throws {
        let pool = try makePool(ThreadLog())
        let counter = Counter()
        for _ in 0..<10 {
            let value = try await counter.bump(pool)
            XCTAssertGreaterThan(value.id, 0)
        }
        let count = await counter.count
        let ranOnDriverThread = await counter.ranOnDriverThread
        XCTAssertEqual(count, 10)
        // A default actor runs on the preferred executor when the runtime schedules it; on a
        // loaded machine it is occasionally resumed on a cooperative thread instead, so this
        // checks that the preference reaches actor-isolated bodies, not that it always wins.
        XCTAssertGreaterThan(ranOnDriverThread, 0, "a default actor runs on the preferred executor")
    }

    func testTheSimplerKindsConnectOnThePoolsThreads() async throws {
        let log = ThreadLog()
        let creator: @Sendable () throws -> MockConnection = {
            log.note("connect"); return MockConnection()
        }
        let options = quietOptions
        let pools: [any Pool<MockConnection>] = [
            try NullPool(options: options, dialect: LoggingDialect(log: log), creator: creator),
            try StaticPool(options: options, dialect: LoggingDialect(log: log), creator: creator),
            try AssertionPool(options: options, dialect: LoggingDialect(log: log), creator: creator)
        ]
        for pool in pools {
            let fairy = try await pool.connect()
            await fairy.closeAndWait()
        }
        XCTAssertFalse(log.value.contains { $0.hasSuffix("@caller") }, "\(log.value)")
        XCTAssertEqual(log.value.filter { $0.hasPrefix("connect") }.count, 3)
    }

    func testDefaultThreadCountCoversEveryConnectionThePoolMayOpen() throws {
        let pool = try QueuePool(poolSize: 3, maxOverflow: 2, options: quietOptions, dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertEqual(pool.driverExecutor?.maximumThreads, 7, "poolSize + maxOverflow, plus two")
        let unlimited = try QueuePool(poolSize: 3, maxOverflow: -1, options: quietOptions, dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertNil(unlimited.driverExecutor!.maximumThreads)
        let limited = try QueuePool(options: PoolOptions(driverThreads: .limit(4)), dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertEqual(limited.driverExecutor?.maximumThreads, 4)
        XCTAssertEqual(limited.driverExecutor?.threadCount, 0, "threads start on demand")
    }

    func testASharedExecutorServesSeveralPools() throws {
        let shared = try DriverExecutor(maximumThreads: 2)
        let a = try QueuePool(options: PoolOptions(driverThreads: .shared(shared)), dialect: MockDialect(), creator: MockDBAPI().creator())
        let b = try NullPool(options: PoolOptions(driverThreads: .shared(shared)), dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertTrue(a.driverExecutor === shared)
        XCTAssertTrue(b.driverExecutor === shared)
    }

    func testBadThreadCountsAreRejected() {
        for bad in [0, -1, DriverThreads.largestThreadCount + 1] {
            XCTAssertThrowsError(try QueuePool(options: PoolOptions(driverThreads: .limit(bad)), dialect: MockDialect(), creator: MockDBAPI().creator())) { error in
                guard case let .invalidArgument(message)? = error as? PoolError else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains("driverThreads") && message.contains("\(bad)") && message.contains("between 1 and 100000"), message)
            }
        }
        XCTAssertThrowsError(try DriverExecutor(maximumThreads: 0))
        XCTAssertThrowsError(try DriverExecutor(maximumThreads: 1, idleThreadLifetime: .zero))
    }

    func testIdleThreadsRetire() async throws {
        let executor = try DriverExecutor(maximumThreads: 2, idleThreadLifetime: .milliseconds(20))
        let pool = try QueuePool(options: PoolOptions(driverThreads: .shared(executor)), dialect: MockDialect(), creator: MockDBAPI().creator())
        try await pool.withConnection { _ in }
        XCTAssertEqual(executor.threadCount, 1)
        let retired = await Harness.waitUntil(.seconds(2)) { executor.threadCount == 0 }
        XCTAssertTrue(retired)
        // Work after that starts a thread again.
        try await pool.withConnection { _ in XCTAssertNotNil(DriverExecutor.current) }
    }

    /// Jobs that arrive together each get a thread while the earlier ones block: a job counts on
    /// an idle thread only once, even before that thread has woken up. (Each push used to count
    /// on it, so the second and third job of a burst started no thread, and a later job could wait
    /// behind threads blocked in the driver.)
    func testJobsArrivingTogetherEachGetAThreadWhileEarlierOnesBlock() throws {
        let executor = try DriverExecutor(maximumThreads: 6)
        let warm = DispatchSemaphore(value: 0)
        Task(executorPreference: executor) { warm.signal() }
        warm.wait()
        usleep(20_000)  // its one thread is asleep now
        let release = DispatchSemaphore(value: 0)
        let blockers = (0..<3).map { _ in Task(executorPreference: executor) { release.wait() } }
        let fourth = DispatchSemaphore(value: 0)
        Task(executorPreference: executor) { fourth.signal() }
        let ran = fourth.wait(timeout: .now() + 5) == .success
        for _ in blockers { release.signal() }
        XCTAssertTrue(ran, "a job waited behind three jobs blocked on their threads (threads: \(executor.threadCount))")
    }

    /// Before: a job's last reference was released under the executor's lock, so a pool freed by
    /// its own offloaded return (its deinit retires the idle threads, which takes that lock)
    /// deadlocked the driver thread.
    func testAPoolFreedByItsOwnOffloadedReturnDoesNotDeadlock() async throws {
        weak var weakPool: QueuePool<MockConnection>?
        do {
            let pool = try QueuePool(options: quietOptions, dialect: MockDialect(), creator: MockDBAPI().creator())
            weakPool = pool
            // Dropped without close(): the deinit hands the return to a driver thread, in a job
            // that holds the pool until it is released.
            _ = try await pool.connect()
        }
        let freed = await Harness.waitUntil(.seconds(5)) { weakPool == nil }
        XCTAssertTrue(freed, "the pool's deinit finished on the driver thread")
    }
}
