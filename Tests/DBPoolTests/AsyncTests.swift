import XCTest
import Foundation
import DBPool
import DBPoolTesting

/// Async acquisition from the same state machine: suspension without blocking,
/// cancellation, timeouts, fair hand-off, and the race between a hand-off and a cancel.
final class AsyncTests: XCTestCase {
    private func makePool(_ size: Int, _ overflow: Int, timeout: Duration?, dbapi: MockDBAPI = MockDBAPI()) throws -> QueuePool<MockConnection> {
        try QueuePool(
            poolSize: size, maxOverflow: overflow, timeout: timeout, options: quietOptions,
            dialect: MockDialect(), creator: dbapi.creator())
    }

    func testAsyncTimeoutHasTheSameMessageAndLeavesTheQueue() async throws {
        let pool = try makePool(1, 0, timeout: .milliseconds(40))
        let held = try await pool.connect()
        let start = ContinuousClock.now
        do {
            _ = try await pool.connect()
            XCTFail("expected a timeout")
        } catch let error as PoolError {
            XCTAssertEqual(
                error.description, "QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 0.04 (checked out 1, idle 0, waiting 0, connecting 0; every connection is in use)")
        }
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(35))
        XCTAssertEqual(pool.waiting, 0)
        await held.closeAndWait()
        XCTAssertEqual(pool.checkedIn, 1)
    }

    func testCancelledWaiterThrowsPromptlyAndNeverGetsARecord() async throws {
        let pool = try makePool(1, 0, timeout: nil)
        let held = try await pool.connect()
        let waiter = Task { try await pool.connect() }
        while pool.waiting == 0 { await Task.yield() }
        let start = ContinuousClock.now
        waiter.cancel()
        do {
            let fairy = try await waiter.value
            await fairy.closeAndWait()
            XCTFail("a cancelled waiter must not receive a record")
        } catch is CancellationError {}
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
        XCTAssertEqual(pool.waiting, 0)
        await held.closeAndWait()
        XCTAssertEqual(pool.checkedIn, 1, "the record went back to the pool, not to the cancelled waiter")
    }

    func testAlreadyCancelledTaskAtTheLimitThrowsCancellation() async throws {
        let pool = try makePool(1, 0, timeout: nil)
        let held = try await pool.connect()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await pool.connect()
        }
        do {
            _ = try await task.value
            XCTFail("expected CancellationError")
        } catch is CancellationError {}
        XCTAssertEqual(pool.waiting, 0)
        await held.closeAndWait()
    }

    /// Far more waiting tasks than threads: if a waiter blocked its thread, the task that returns
    /// the connection could never run.
    func testWaitingTasksDoNotBlockThreads() async throws {
        let pool = try makePool(1, 0, timeout: nil)
        let held = try await pool.connect()
        let served = Guarded(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    try await pool.withConnection { _ in served.update { $0 += 1 } }
                }
            }
            group.addTask {
                while pool.waiting < 64 { await Task.yield() }
                await held.closeAndWait()
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(served.value, 64)
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    /// Hammers the race between handing a returned record to a waiter and cancelling that waiter.
    /// Whichever wins, the record must end up either with the waiter or back in the pool.
    func testHandOffAndCancelRaceNeverLosesARecord() async throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(1, 0, timeout: nil, dbapi: dbapi)
        var delivered = 0
        var cancelled = 0
        for iteration in 0..<1_500 {
            let held = try await pool.connect()
            let waiter = Task { try await pool.connect() }
            while pool.waiting == 0 { await Task.yield() }
            // Release and cancel from two sides at once.
            let releaser = Task.detached { held.close() }
            if iteration % 2 == 0 { await Task.yield() }
            waiter.cancel()
            await releaser.value
            do {
                let fairy = try await waiter.value
                delivered += 1
                await fairy.closeAndWait()
            } catch is CancellationError {
                cancelled += 1
            }
            // The releaser's close() handed its return to the pool's driver threads.
            _ = await Harness.waitUntil { pool.checkedIn == 1 }
            XCTAssertEqual(pool.waiting, 0)
            XCTAssertEqual(pool.checkedOut, 0, "iteration \(iteration): a record was lost")
            XCTAssertEqual(pool.checkedIn, 1)
        }
        XCTAssertEqual(delivered + cancelled, 1_500)
        XCTAssertEqual(dbapi.connections.count, 1, "one connection served every iteration")
    }

    /// 1,000 tasks and blocking threads over QueuePool(4, 0), with cancellation at random
    /// points and short timeouts. Every caller ends with a connection, a timeout or a
    /// cancellation; at most four connections exist; the counters come to rest.
    func testThousandTasksWithThreadsCancellationAndTimeouts() async throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(4, 0, timeout: .milliseconds(250), dbapi: dbapi)
        let held = Guarded<Set<Int>>([])
        let violations = Guarded<[String]>([])
        let outcomes = Guarded<[String: Int]>([:])
        @Sendable func use(_ fairy: ConnectionFairy<MockConnection>) {
            let id = fairy.dbapiConnection!.id
            if !held.update({ $0.insert(id).inserted }) { violations.update { $0.append("shared \(id)") } }
            if held.value.count > 4 { violations.update { $0.append("more than 4 held") } }
            held.update { _ = $0.remove(id) }
        }
        @Sendable func count(_ key: String) { outcomes.update { $0[key, default: 0] += 1 } }

        let threads = Harness.spawn {
            Harness.onThreads(4) { _ in
                for _ in 0..<300 {
                    do {
                        let fairy = try pool.connect()
                        use(fairy)
                        fairy.close()
                        count("thread-ok")
                    } catch let error as PoolError {
                        if case .timeout = error { count("thread-timeout") } else { violations.update { $0.append("\(error)") } }
                    } catch {
                        violations.update { $0.append("\(error)") }
                    }
                }
            }
        }
        var generator = SystemRandomNumberGenerator()
        await withTaskGroup(of: Void.self) { group in
            var tasks: [Task<Void, Never>] = []
            for _ in 0..<1_000 {
                let task = Task {
                    for _ in 0..<3 {
                        do {
                            try await pool.withConnection { fairy in
                                use(fairy)
                                await Task.yield()
                            }
                            count("task-ok")
                        } catch is CancellationError {
                            count("task-cancelled")
                            return
                        } catch let error as PoolError {
                            if case .timeout = error { count("task-timeout") } else { violations.update { $0.append("\(error)") } }
                        } catch {
                            violations.update { $0.append("\(error)") }
                        }
                    }
                }
                tasks.append(task)
                group.addTask { await task.value }
            }
            // Cancel about a tenth of them at random points of their run.
            for _ in 0..<100 {
                tasks[Int.random(in: 0..<tasks.count, using: &generator)].cancel()
                await Task.yield()
            }
            await group.waitForAll()
        }
        XCTAssertTrue(threads.finished(within: 60))
        XCTAssertEqual(violations.value, [])
        let totals = outcomes.value
        XCTAssertGreaterThan(totals["task-ok", default: 0], 0)
        XCTAssertGreaterThan(totals["thread-ok", default: 0], 0)
        XCTAssertEqual(totals["thread-ok", default: 0] + totals["thread-timeout", default: 0], 1_200)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(pool.waiting, 0)
        XCTAssertEqual(pool.checkedIn, 4)
        XCTAssertEqual(dbapi.connections.count, 4, "no connection beyond the pool size was ever made")
    }

    func testEveryPoolKindServesAsyncCallers() async throws {
        let dbapi = MockDBAPI()
        let pools: [any Pool<MockConnection>] = [
            try QueuePool(poolSize: 1, maxOverflow: 0, options: quietOptions, dialect: MockDialect(), creator: dbapi.creator()),
            try NullPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator()),
            try StaticPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator()),
            try AssertionPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        ]
        for pool in pools {
            let fairy = try await pool.connect()
            XCTAssertTrue(fairy.isValid, pool.status())
            await fairy.closeAndWait()
            let value = try await pool.withConnection { fairy in fairy.dbapiConnection!.id }
            XCTAssertGreaterThan(value, 0)
        }
        let singleton = try SingletonThreadPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        do {
            _ = try await singleton.connect()
            XCTFail("SingletonThreadPool cannot serve async callers")
        } catch let error as PoolError {
            guard case .unsupported(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("SingletonThreadPool"))
        }
    }
}
