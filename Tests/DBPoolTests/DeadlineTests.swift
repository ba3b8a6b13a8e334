@testable import DBPool
import DBPoolTesting
import Dispatch
import XCTest

/// Async waiters' deadlines: one timer per pool watches the oldest, instead of a sleeping task per
/// waiter. The bookkeeping is checked on QueueStateMachine directly; the timer itself with real
/// (short) timeouts.
final class DeadlineTests: XCTestCase {
    private func machine(clock: ManualClock) -> (FakeMachine, FakeSlot) {
        let (machine, slots) = MachineFixture.machine(["a"], options: PoolOptions(clock: clock), clock: clock)
        return (machine, slots[0])
    }

    private func timer(at stamp: Int64) -> FakeEffects {
        let effects = FakeEffects()
        effects.timer = .deadlines(at: stamp)
        return effects
    }

    func testTheTimerStartsOnceExpiresInDeadlineOrderAndStopsWhenNobodyIsWatched() {
        let clock = ManualClock()
        var (m, slot) = machine(clock: clock)
        let waiters = [100, 200, 300].map { MachineFixture.async(deadline: $0) }
        XCTAssertEqual(m.acquire(enqueueing: waiters[0]), FakeAction(.wait, timer(at: 100)), "the first deadline starts the timer")
        XCTAssertEqual(m.acquire(enqueueing: waiters[1]), FakeAction(.wait), "one timer for all of them")
        XCTAssertEqual(m.acquire(enqueueing: waiters[2]), FakeAction(.wait))

        XCTAssertEqual(m.expire(now: 99), FakeAction(.none, timer(at: 100)), "too early: nothing expires, the timer runs on")
        let action = m.expire(now: 200)
        XCTAssertEqual(m.waiting, 1)
        XCTAssertEqual(m.counters.timeouts, 2)
        let expected = timer(at: 300)
        expected.wake = waiters[0...1].map { Wakeup(waiter: $0, resume: .resume(nil), failure: .timedOut(m.snapshot)) }
        XCTAssertEqual(action, FakeAction(.none, expected), "both fail, in deadline order, with the pool as it was")

        // The last one is handed the record before its deadline: it leaves the watch list too.
        XCTAssertEqual(MachineFixture.woken(m.release(slot)).map(ObjectIdentifier.init), [ObjectIdentifier(waiters[2])])
        XCTAssertEqual(m.expire(now: 1_000), .none, "a served waiter is never failed, and nobody is watched: the timer stops")
        XCTAssertFalse(m.deadlineTimerRunning)
        XCTAssertEqual(m.claim(waiters[2]), FakeAction(.use(slot)))

        let late = MachineFixture.async(deadline: 2_000)
        XCTAssertEqual(m.acquire(enqueueing: late), FakeAction(.wait, timer(at: 2_000)), "a stopped timer is started again")
    }

    func testACancelledWaiterLeavesTheWatchList() {
        let clock = ManualClock()
        var (m, _) = machine(clock: clock)
        let first = MachineFixture.async(deadline: 100), second = MachineFixture.async(deadline: 200)
        for waiter in [first, second] { _ = m.acquire(enqueueing: waiter) }
        XCTAssertEqual(
            m.cancel(first), FakeAction(.none, FakeEffects(wake: [Wakeup(waiter: first, resume: .resume(nil), failure: .cancelled)])),
            "a queued waiter that is cancelled fails at once")
        XCTAssertEqual(m.expire(now: 150), FakeAction(.none, timer(at: 200)), "it no longer counts for the timer")
        XCTAssertEqual(m.counters.waits, 1, "the cancelled wait is counted")
    }

    func testACancellationBeforeTheWaiterIsQueuedFailsItWhenItComes() {
        let clock = ManualClock()
        var (m, _) = machine(clock: clock)
        let waiter = MachineFixture.async(deadline: 100)
        XCTAssertEqual(m.cancel(waiter), .none)
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.fail(.cancelled)))
        XCTAssertEqual(m.waiting, 0)
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

    // MARK: Deadlines on a ManualClock

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
