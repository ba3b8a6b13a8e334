@testable import DBPool
import DBPoolTesting
import Dispatch
import XCTest

/// Async waiters' deadlines: one timer per pool watches the oldest, instead of a sleeping task per
/// waiter. The bookkeeping is checked on QueueStateMachine directly; the timer itself with real
/// (short) timeouts.
final class DeadlineTests: XCTestCase {
    private final class Slot: PoolSlot {
        var idleSince: ContinuousClock.Instant?
        var lastPinged: ContinuousClock.Instant?
        /// A fake slot's connection is always ready.
        var needsConnect: Bool { false }
        var hasConnection: Bool { true }
        func noteCheckout(site: CheckoutSite?) {}
        func noteCheckin() {}
    }

    private func asyncWaiter(deadline: Int64) -> Waiter<Slot> {
        let waiter = Waiter<Slot>(kind: .async, site: nil)
        waiter.deadline = deadline
        return waiter
    }

    func testTheTimerStartsOnceExpiresInDeadlineOrderAndStopsWhenNobodyIsWatched() {
        let clock = ManualClock()
        var m = QueueStateMachine<Slot>(
            poolSize: 1, maxOverflow: 0, useLIFO: false,
            options: PoolOptions(clock: clock), timestamper: Timestamper(clock: clock))
        let slot = Slot()
        XCTAssertTrue(m.reserveConnectSlot())
        _ = m.connectFinished(slot, countsAsCheckout: true, site: nil, creatorFailure: nil, random: 0)
        let waiters = [100, 200, 300].map { asyncWaiter(deadline: $0) }
        var starts: [Bool] = []
        for waiter in waiters {
            guard case .wait = m.acquire(enqueueing: waiter, site: nil) else { return XCTFail("must queue") }
            starts.append(m.watchDeadline(of: waiter))
        }
        XCTAssertEqual(starts, [true, false, false], "one timer for all of them")

        var (expired, _, next) = m.expireDeadlines(now: 99)
        XCTAssertTrue(expired.isEmpty)
        XCTAssertEqual(next, 100)
        (expired, _, next) = m.expireDeadlines(now: 200)
        XCTAssertEqual(expired.count, 2)
        XCTAssertTrue(expired[0] === waiters[0] && expired[1] === waiters[1])
        XCTAssertEqual(next, 300)
        XCTAssertEqual(m.waiting, 1)

        // The last one is handed the record before its deadline: it leaves the watch list too.
        guard case .handOff = m.release(slot) else { return XCTFail("async head is handed the record") }
        (expired, _, next) = m.expireDeadlines(now: 1_000)
        XCTAssertTrue(expired.isEmpty, "a served waiter is never failed")
        XCTAssertNil(next, "nobody is watched: the timer stops")
        XCTAssertFalse(m.deadlineTimerRunning)

        let late = asyncWaiter(deadline: 2_000)
        guard case .wait = m.acquire(enqueueing: late, site: nil) else { return XCTFail("must queue") }
        XCTAssertTrue(m.watchDeadline(of: late), "a stopped timer is started again")
    }

    func testACancelledWaiterLeavesTheWatchList() {
        let clock = ManualClock()
        var m = QueueStateMachine<Slot>(
            poolSize: 1, maxOverflow: 0, useLIFO: false,
            options: PoolOptions(clock: clock), timestamper: Timestamper(clock: clock))
        XCTAssertTrue(m.reserveConnectSlot())
        _ = m.connectFinished(Slot(), countsAsCheckout: true, site: nil, creatorFailure: nil, random: 0)
        let first = asyncWaiter(deadline: 100), second = asyncWaiter(deadline: 200)
        for waiter in [first, second] {
            _ = m.acquire(enqueueing: waiter, site: nil)
            _ = m.watchDeadline(of: waiter)
        }
        XCTAssertTrue(m.remove(first))
        let (expired, _, next) = m.expireDeadlines(now: 150)
        XCTAssertTrue(expired.isEmpty)
        XCTAssertEqual(next, 200)
    }

    private func makePool(timeout: Duration?) throws -> QueuePool<MockConnection> {
        try QueuePool(
            poolSize: 1, maxOverflow: 0, timeout: timeout, options: PoolOptions(logHandler: .disabled),
            dialect: MockDialect(), creator: MockDBAPI().creator())
    }

    /// Twenty tasks queue behind a held connection: all fail with the timeout error at their
    /// deadline, are counted, and leave the queue; a later waiter restarts the stopped timer.
    func testManyAsyncWaitersTimeOutTogetherAndTheTimerRestarts() async throws {
        let pool = try makePool(timeout: .milliseconds(40))
        let held = try await pool.connect()
        let tasks = (0..<20).map { _ in
            Task { () -> String in
                do { _ = try await pool.connect(); return "connected" } catch let error as PoolError {
                    if case .timeout = error { return "timeout" }
                    return "\(error)"
                } catch { return "\(error)" }
            }
        }
        var outcomes: [String] = []
        for task in tasks { outcomes.append(await task.value) }
        XCTAssertEqual(outcomes, Array(repeating: "timeout", count: 20))
        XCTAssertEqual(pool.waiting, 0)
        XCTAssertEqual(pool.statistics.timeouts, 20)

        let start = ContinuousClock.now
        do {
            _ = try await pool.connect()
            XCTFail("expected a timeout")
        } catch PoolError.timeout {
            XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(40), "not before its deadline")
        }
        XCTAssertEqual(pool.statistics.timeouts, 21)
        await held.closeAndWait()
    }

    /// A waiter served before its deadline keeps its connection; the one behind it still times out.
    func testAWaiterServedInTimeIsNotFailedByTheTimer() async throws {
        let pool = try makePool(timeout: .milliseconds(50))
        let held = try await pool.connect()
        let first = Task { try await pool.connect() }
        while pool.waiting < 1 { await Task.yield() }
        let second = Task { try await pool.connect() }
        while pool.waiting < 2 { await Task.yield() }
        await held.closeAndWait()
        let fairy = try await first.value
        do {
            _ = try await second.value
            XCTFail("the second waiter should time out while the first holds the connection")
        } catch PoolError.timeout {}
        XCTAssertTrue(fairy.isValid)
        await fairy.closeAndWait()
        XCTAssertEqual([pool.checkedIn, pool.waiting], [1, 0])
    }

    // MARK: Deadlines on a ManualClock (issue 16 item 3)

    /// With a ManualClock as the pool's clock, a checkout timeout is driven by the test: a
    /// blocked thread waits while the clock stands still and is released by one advance.
    func testABlockingWaiterTimesOutWhenAManualClockPassesItsDeadline() throws {
        let clock = ManualClock()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, timeout: .seconds(30), options: PoolOptions(clock: clock, logHandler: .disabled),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        let held = try pool.connect()
        let outcome = Guarded<String?>(nil)
        let waiter = Harness.spawn {
            do { _ = try pool.connect(); outcome.update { $0 = "served" } } catch { outcome.update { $0 = "\(error)" } }
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 1 })
        clock.advance(by: .seconds(29))
        XCTAssertFalse(Harness.eventually(.milliseconds(30)) { outcome.value != nil }, "29 s of 30: still waiting")
        clock.advance(by: .seconds(1))
        XCTAssertTrue(waiter.finished(within: 5))
        XCTAssertTrue(outcome.value?.hasPrefix("QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 30.00") == true, "\(outcome.value ?? "")")
        XCTAssertEqual(pool.statistics.maxWaitTime, .seconds(30), "the wait is measured on the pool's clock")
        held.close()
    }

    func testAnAsyncWaiterTimesOutWhenAManualClockPassesItsDeadline() async throws {
        let clock = ManualClock()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, timeout: .seconds(30), options: PoolOptions(clock: clock, logHandler: .disabled),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        let held = try await pool.connect()
        let waiter = Task { try await pool.connect() }
        let queued = await Harness.waitUntil { pool.waiting == 1 }
        XCTAssertTrue(queued)
        clock.advance(by: .seconds(29))
        let early = await Harness.waitUntil(.milliseconds(30)) { pool.waiting == 0 }
        XCTAssertFalse(early, "29 s of 30: still waiting")
        clock.advance(by: .seconds(1))
        do {
            _ = try await waiter.value
            XCTFail("expected a timeout")
        } catch PoolError.timeout {}
        XCTAssertEqual(pool.waiting, 0)
        await held.closeAndWait()
    }
}
