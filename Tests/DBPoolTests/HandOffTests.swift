@testable import DBPool
import DBPoolTesting
import Dispatch
import XCTest

/// Where a returned connection goes while callers are queued: strict hand-off, or, within
/// `overtakeWindow`, back to the idle store with the head thread woken to take it. Driven through
/// QueueStateMachine directly with a ManualClock, so every interleaving is chosen by the test.
final class HandOffTests: XCTestCase {
    private typealias Machine = FakeMachine
    private typealias Slot = FakeSlot

    /// A machine over `names.count` records, all checked out.
    private func machine(_ names: [String], window: Duration, clock: ManualClock) -> (Machine, [Slot]) {
        MachineFixture.machine(names, options: PoolOptions(clock: clock, overtakeWindow: window), clock: clock)
    }

    private func blocking() -> Waiter<Slot> { MachineFixture.blocking() }

    private func queue(_ waiter: Waiter<Slot>, in machine: inout Machine) {
        XCTAssertEqual(machine.acquire(enqueueing: waiter).next, .wait, "expected to queue")
    }

    private func granted(_ waiter: Waiter<Slot>) -> String? { MachineFixture.granted(waiter) }

    /// The action of a return that wakes exactly `waiters` and does nothing else.
    private func waking(_ waiters: Waiter<Slot>...) -> FakeAction {
        FakeAction(.none, FakeEffects(wake: waiters.map { Wakeup(waiter: $0, resume: .resume(nil), failure: nil) }))
    }

    func testStrictWindowHandsEveryReturnToTheHeadAndArrivalsQueue() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .zero, clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        XCTAssertEqual(m.release(slots[0]), waking(waiter), "strict: the head must be handed the record")
        XCTAssertEqual(granted(waiter), "a")
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 1, 0])
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "nothing idle for an arrival")
    }

    func testFreshBlockingHeadIsWokenToTakeTheRecordAndAnArrivalMayTakeItFirst() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        XCTAssertEqual(m.release(slots[0]), waking(waiter), "the head must be woken")
        XCTAssertNil(waiter.grant, "woken, not handed the record")
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [1, 0, 1], "the record is idle, the thread still queued")

        // A caller already running takes it before the woken thread looks.
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.use(slots[0])), "an arrival may overtake")
        let taken = slots[0]
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: false), FakeAction(.wait), "nothing left: it sleeps again")
        XCTAssertTrue(waiter.isQueued, "it keeps its place at the head")
        XCTAssertNil(m.racer)

        // The next return wakes it again, and this time it gets there first.
        XCTAssertEqual(m.release(taken), waking(waiter), "woken again")
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: false), FakeAction(.use(taken)))
        XCTAssertFalse(waiter.isQueued)
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 1, 0])
    }

    func testOnlyOneThreadIsWokenAtATimeAndEachWinnerWakesTheNext() {
        let clock = ManualClock()
        var (m, slots) = machine(["a", "b"], window: .milliseconds(1), clock: clock)
        let first = blocking(), second = blocking()
        queue(first, in: &m)
        queue(second, in: &m)
        XCTAssertEqual(m.release(slots[0]), waking(first), "wake the head")
        XCTAssertEqual(m.release(slots[1]), .none, "a thread is already on its way: no second wake-up")
        let action = m.blockingWaiterWoke(first, timedOut: false)
        XCTAssertEqual(action, FakeAction(.use(slots[0]), waking(second).effects), "a record is still idle: the new head is woken for it")
        XCTAssertTrue(m.racer === second)
        XCTAssertEqual(m.blockingWaiterWoke(second, timedOut: false), FakeAction(.use(slots[1])))
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 2, 0])
    }

    func testHeadThatHasWaitedTheWindowIsHandedTheRecordAndNobodyOvertakes() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        XCTAssertEqual(m.release(slots[0]), waking(waiter), "fresh head: woken")
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.use(slots[0])), "overtaken once")
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: false), FakeAction(.wait))

        clock.advance(by: .milliseconds(1))
        XCTAssertEqual(m.release(slots[0]), waking(waiter), "after the window: strict hand-off")
        XCTAssertEqual(granted(waiter), "a")
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "nothing was left to overtake with")
    }

    func testAsyncHeadIsAlwaysHandedTheRecord() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = MachineFixture.async()
        queue(waiter, in: &m)
        XCTAssertEqual(m.release(slots[0]), waking(waiter), "async waiters are resumed with the record")
        XCTAssertEqual(granted(waiter), "a")
        XCTAssertEqual(m.claim(waiter), FakeAction(.use(slots[0])))
    }

    func testAWaiterPastItsDeadlineTakesAnIdleRecordRatherThanFail() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        XCTAssertEqual(m.release(slots[0]), waking(waiter), "woken")
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: true), FakeAction(.use(slots[0])))

        // With nothing idle, the deadline makes it leave the queue, with the pool as it was.
        let late = blocking()
        queue(late, in: &m)
        let action = m.blockingWaiterWoke(late, timedOut: true)
        XCTAssertFalse(late.isQueued)
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 1, 0])
        XCTAssertEqual(action, FakeAction(.fail(.timedOut(m.snapshot))))
        XCTAssertEqual(m.counters.timeouts, 1)
    }

    func testRecordsLeftIdleGoStraightToAHeadThatMayNoLongerBeOvertaken() {
        for secondIsAsync in [false, true] {
            let clock = ManualClock()
            var (m, slots) = machine(["a", "b"], window: .milliseconds(1), clock: clock)
            let first = blocking()
            let second = secondIsAsync ? MachineFixture.async() : blocking()
            queue(first, in: &m)
            queue(second, in: &m)
            XCTAssertEqual(m.release(slots[0]), waking(first), "woken")
            XCTAssertEqual(m.release(slots[1]), .none, "pooled")
            clock.advance(by: .milliseconds(2))
            XCTAssertEqual(m.blockingWaiterWoke(first, timedOut: false), FakeAction(.use(slots[0]), waking(second).effects))
            XCTAssertEqual(granted(second), "b", "handed directly: async \(secondIsAsync)")
            XCTAssertNil(m.racer)
            XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 2, 0])
        }
    }

    /// The window bounds overtaking by arrivals too. A record pooled for a
    /// racer that has not come by the end of its window is not for whoever arrives next.
    func testAnArrivalMayNotTakeAnIdleRecordOnceTheHeadHasWaitedTheWindow() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        XCTAssertEqual(m.release(slots[0]), waking(waiter), "fresh head: woken")
        // The woken thread is slow to run (a busy machine): its window passes.
        clock.advance(by: .milliseconds(2))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "an arrival overtook a head that has waited longer than the window")
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: false), FakeAction(.use(slots[0])))
    }

    /// Records pooled while a racer was on its way, when a return then hands
    /// the (late) racer a record directly, go to the waiters behind it, instead of staying idle
    /// with nobody woken for them.
    func testRecordsPooledForALateRacerGoToTheQueueWhenAReturnHandsItOne() {
        let clock = ManualClock()
        var (m, slots) = machine(["a", "b", "c"], window: .milliseconds(1), clock: clock)
        let first = blocking(), second = blocking(), third = blocking()
        queue(first, in: &m)
        queue(second, in: &m)
        queue(third, in: &m)
        XCTAssertEqual(m.release(slots[0]), waking(first), "fresh head: woken")
        XCTAssertEqual(m.release(slots[1]), .none, "a racer is on its way: pooled")
        clock.advance(by: .milliseconds(2))
        XCTAssertEqual(m.release(slots[2]), waking(first, second, third), "all three must be woken")
        XCTAssertEqual(
            [granted(first), granted(second), granted(third)], ["c", "a", "b"],
            "the late racer is handed the record, and the idle records go to the waiters after it")
        XCTAssertNil(m.racer)
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 3, 0])
    }

    func testAnOverflowRecordThatWouldBeClosedGoesToTheHeadInstead() {
        let clock = ManualClock()
        var (m, slots) = MachineFixture.machine(["a", "b"], poolSize: 1, maxOverflow: 1, options: PoolOptions(clock: clock), clock: clock)
        let waiter = blocking()
        let other = blocking()
        queue(waiter, in: &m)
        queue(other, in: &m)
        XCTAssertEqual(m.release(slots[0]), waking(waiter), "room in the idle store: woken")
        XCTAssertEqual(m.release(slots[1]), waking(waiter, other), "no room: handed on, not closed")
        XCTAssertEqual(granted(waiter), "b")
        XCTAssertTrue(m.racer === other, "the record left idle wakes the next thread to come for it")
        XCTAssertEqual(m.open, 2)
    }

    func testShutdownForgetsTheWokenThreadAndFailsIt() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        XCTAssertEqual(m.release(slots[0]), waking(waiter), "woken")
        let expected = FakeEffects(wake: [Wakeup(waiter: waiter, resume: .resume(nil), failure: .shutDown)])
        expected.close = [slots[0]]
        expected.closeReason = .shutdown
        XCTAssertEqual(m.shutdown(), FakeAction(.none, expected), "the waiter fails and the idle record closes")
        XCTAssertNil(m.racer)
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: false), FakeAction(.fail(.shutDown)), "it must look at its failure")
    }

    /// Real threads, both policies: many more threads than connections cycle without a lost
    /// wake-up (every checkout completes well within the timeout) and the counters balance.
    func testThreadsCyclingUnderBothPoliciesAllFinishAndCountersBalance() throws {
        for window in [Duration.zero, .milliseconds(1)] {
            let dbapi = MockDBAPI()
            let pool = try QueuePool(
                poolSize: 2, maxOverflow: 1, timeout: .seconds(20),
                options: PoolOptions(overtakeWindow: window),
                dialect: MockDialect(), creator: dbapi.creator())
            let threads = 12, cycles = 500
            let failures = Guarded(0)
            XCTAssertTrue(
                Harness.onThreads(threads) { _ in
                    for _ in 0..<cycles {
                        do { try pool.connect().close() } catch { failures.update { $0 += 1 } }
                    }
                }, "a thread never finished: a lost wake-up (window \(window))")
            XCTAssertEqual(failures.value, 0, "window \(window)")
            XCTAssertEqual([pool.checkedOut, pool.waiting], [0, 0], "window \(window)")
            XCTAssertLessThanOrEqual(pool.checkedIn, 2)
            XCTAssertEqual(pool.statistics.checkouts, threads * cycles, "window \(window)")
            XCTAssertEqual(dbapi.connections.filter { !$0.closed }.count, pool.checkedIn, "no connection leaked")
        }
    }
}
