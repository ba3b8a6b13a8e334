@testable import DBPool
import DBPoolTesting
import Dispatch
import XCTest

/// Where a returned connection goes while callers are queued: strict hand-off, or, within
/// `overtakeWindow`, back to the idle store with the head thread woken to take it. Driven through
/// QueueStateMachine directly with a ManualClock, so every interleaving is chosen by the test.
final class HandOffTests: XCTestCase {
    private final class Slot: PoolSlot {
        let name: String
        var idleSince: ContinuousClock.Instant?
        var lastPinged: ContinuousClock.Instant?
        /// A fake slot's connection is always ready.
        var needsConnect: Bool { false }
        var hasConnection: Bool { true }
        var isOut = false
        init(_ name: String) { self.name = name }
        func noteCheckout(site: CheckoutSite?) { isOut = true }
        func noteCheckin() { isOut = false }
    }

    private typealias Machine = QueueStateMachine<Slot>

    /// A machine over `names.count` records, all checked out.
    private func machine(_ names: [String], window: Duration, clock: ManualClock) -> (Machine, [Slot]) {
        var machine = Machine(
            poolSize: names.count, maxOverflow: 0, useLIFO: false,
            options: PoolOptions(clock: clock, overtakeWindow: window),
            timestamper: Timestamper(clock: clock))
        let slots = names.map(Slot.init)
        for slot in slots {
            XCTAssertTrue(machine.reserveConnectSlot())
            XCTAssertTrue(machine.connectFinished(slot, countsAsCheckout: true, site: nil, creatorFailure: nil, random: 0).isEmpty)
        }
        return (machine, slots)
    }

    private func blocking() -> Waiter<Slot> { Waiter(kind: .blocking(DispatchSemaphore(value: 0)), site: nil) }

    private func queue(_ waiter: Waiter<Slot>, in machine: inout Machine) {
        guard case .wait = machine.acquire(enqueueing: waiter, site: nil) else { return XCTFail("expected to queue") }
    }

    private func granted(_ waiter: Waiter<Slot>) -> String? {
        guard case let .record(slot)? = waiter.grant else { return nil }
        return slot.name
    }

    func testStrictWindowHandsEveryReturnToTheHeadAndArrivalsQueue() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .zero, clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        guard case let .handOff(to) = m.release(slots[0]) else { return XCTFail("strict: the head must be handed the record") }
        XCTAssertTrue(to === waiter)
        XCTAssertEqual(granted(waiter), "a")
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 1, 0])
        guard case .wait = m.acquire(enqueueing: nil, site: nil) else { return XCTFail("nothing idle for an arrival") }
    }

    func testFreshBlockingHeadIsWokenToTakeTheRecordAndAnArrivalMayTakeItFirst() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        guard case let .wakeRacer(woken) = m.release(slots[0]) else { return XCTFail("the head must be woken, not handed") }
        XCTAssertTrue(woken === waiter)
        XCTAssertNil(waiter.grant)
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [1, 0, 1], "the record is idle, the thread still queued")

        // A caller already running takes it before the woken thread looks.
        guard case let .record(taken) = m.acquire(enqueueing: nil, site: nil) else { return XCTFail("an arrival may overtake") }
        XCTAssertEqual(taken.name, "a")
        let (next, more) = m.blockingWaiterWoke(waiter, timedOut: false)
        XCTAssertEqual(next, .keepWaiting)
        XCTAssertTrue(more.isEmpty)
        XCTAssertTrue(waiter.isQueued, "it keeps its place at the head")
        XCTAssertNil(m.racer)

        // The next return wakes it again, and this time it gets there first.
        guard case .wakeRacer = m.release(taken) else { return XCTFail("woken again") }
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: false).0, .granted)
        XCTAssertEqual(granted(waiter), "a")
        XCTAssertFalse(waiter.isQueued)
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 1, 0])
    }

    func testOnlyOneThreadIsWokenAtATimeAndEachWinnerWakesTheNext() {
        let clock = ManualClock()
        var (m, slots) = machine(["a", "b"], window: .milliseconds(1), clock: clock)
        let first = blocking(), second = blocking()
        queue(first, in: &m)
        queue(second, in: &m)
        guard case .wakeRacer = m.release(slots[0]) else { return XCTFail("wake the head") }
        guard case .pooled = m.release(slots[1]) else { return XCTFail("a thread is already on its way: no second wake-up") }
        let (next, woken) = m.blockingWaiterWoke(first, timedOut: false)
        XCTAssertEqual(next, .granted)
        XCTAssertEqual(woken.count, 1)
        XCTAssertTrue(woken.first === second, "a record is still idle: the new head is woken for it")
        XCTAssertTrue(m.racer === second)
        XCTAssertEqual(m.blockingWaiterWoke(second, timedOut: false).0, .granted)
        XCTAssertEqual([granted(first), granted(second)], ["a", "b"])
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 2, 0])
    }

    func testHeadThatHasWaitedTheWindowIsHandedTheRecordAndNobodyOvertakes() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        guard case .wakeRacer = m.release(slots[0]) else { return XCTFail("fresh head: woken") }
        guard case let .record(taken) = m.acquire(enqueueing: nil, site: nil) else { return XCTFail("overtaken once") }
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: false).0, .keepWaiting)

        clock.advance(by: .milliseconds(1))
        guard case let .handOff(to) = m.release(taken) else { return XCTFail("after the window: strict hand-off") }
        XCTAssertTrue(to === waiter)
        XCTAssertEqual(granted(waiter), "a")
        guard case .wait = m.acquire(enqueueing: nil, site: nil) else { return XCTFail("nothing was left to overtake with") }
    }

    func testAsyncHeadIsAlwaysHandedTheRecord() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = Waiter<Slot>(kind: .async, site: nil)
        queue(waiter, in: &m)
        guard case .handOff = m.release(slots[0]) else { return XCTFail("async waiters are resumed with the record") }
        XCTAssertEqual(granted(waiter), "a")
    }

    func testAWaiterPastItsDeadlineTakesAnIdleRecordRatherThanFail() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        guard case .wakeRacer = m.release(slots[0]) else { return XCTFail("woken") }
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: true).0, .granted)
        XCTAssertEqual(granted(waiter), "a")

        // With nothing idle, the deadline makes it leave the queue.
        let late = blocking()
        queue(late, in: &m)
        XCTAssertEqual(m.blockingWaiterWoke(late, timedOut: true).0, .timedOut)
        XCTAssertFalse(late.isQueued)
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 1, 0])
    }

    func testRecordsLeftIdleGoStraightToAHeadThatMayNoLongerBeOvertaken() {
        for secondIsAsync in [false, true] {
            let clock = ManualClock()
            var (m, slots) = machine(["a", "b"], window: .milliseconds(1), clock: clock)
            let first = blocking()
            let second = secondIsAsync ? Waiter<Slot>(kind: .async, site: nil) : blocking()
            queue(first, in: &m)
            queue(second, in: &m)
            guard case .wakeRacer = m.release(slots[0]) else { return XCTFail("woken") }
            guard case .pooled = m.release(slots[1]) else { return XCTFail("pooled") }
            clock.advance(by: .milliseconds(2))
            let (next, woken) = m.blockingWaiterWoke(first, timedOut: false)
            XCTAssertEqual(next, .granted)
            XCTAssertEqual(woken.count, 1)
            XCTAssertTrue(woken.first === second)
            XCTAssertEqual(granted(second), "b", "handed directly: async \(secondIsAsync)")
            XCTAssertNil(m.racer)
            XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 2, 0])
        }
    }

    /// Issue 14 item 15: the window bounds overtaking by arrivals too. A record pooled for a
    /// racer that has not come by the end of its window is not for whoever arrives next.
    func testAnArrivalMayNotTakeAnIdleRecordOnceTheHeadHasWaitedTheWindow() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        guard case .wakeRacer = m.release(slots[0]) else { return XCTFail("fresh head: woken") }
        // The woken thread is slow to run (a busy machine): its window passes.
        clock.advance(by: .milliseconds(2))
        guard case .wait = m.acquire(enqueueing: nil, site: nil) else {
            return XCTFail("an arrival overtook a head that has waited longer than the window")
        }
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: false).0, .granted)
        XCTAssertEqual(granted(waiter), "a")
    }

    /// Issue 14 item 15: records pooled while a racer was on its way, when a return then hands
    /// the (late) racer a record directly, go to the waiters behind it, instead of staying idle
    /// with nobody woken for them.
    func testRecordsPooledForALateRacerGoToTheQueueWhenAReturnHandsItOne() {
        let clock = ManualClock()
        var (m, slots) = machine(["a", "b", "c"], window: .milliseconds(1), clock: clock)
        let first = blocking(), second = blocking(), third = blocking()
        queue(first, in: &m)
        queue(second, in: &m)
        queue(third, in: &m)
        guard case .wakeRacer = m.release(slots[0]) else { return XCTFail("fresh head: woken") }
        guard case .pooled = m.release(slots[1]) else { return XCTFail("a racer is on its way: pooled") }
        clock.advance(by: .milliseconds(2))
        let outcome = m.release(slots[2])
        XCTAssertEqual(
            [granted(first), granted(second), granted(third)], ["c", "a", "b"],
            "the late racer is handed the record, and the idle records go to the waiters after it")
        if case let .wake(woken) = outcome {
            XCTAssertEqual(woken.map { ObjectIdentifier($0) }, [first, second, third].map { ObjectIdentifier($0) })
        } else {
            XCTFail("all three must be woken, got \(outcome)")
        }
        XCTAssertNil(m.racer)
        XCTAssertEqual([m.checkedIn, m.checkedOut, m.waiting], [0, 3, 0])
    }

    func testAnOverflowRecordThatWouldBeClosedGoesToTheHeadInstead() {
        let clock = ManualClock()
        var m = Machine(
            poolSize: 1, maxOverflow: 1, useLIFO: false,
            options: PoolOptions(clock: clock), timestamper: Timestamper(clock: clock))
        let slots = [Slot("a"), Slot("b")]
        for slot in slots {
            XCTAssertTrue(m.reserveConnectSlot())
            _ = m.connectFinished(slot, countsAsCheckout: true, site: nil, creatorFailure: nil, random: 0)
        }
        let waiter = blocking()
        let other = blocking()
        queue(waiter, in: &m)
        queue(other, in: &m)
        guard case .wakeRacer = m.release(slots[0]) else { return XCTFail("room in the idle store: woken") }
        guard case let .wake(woken) = m.release(slots[1]) else { return XCTFail("no room: handed on, not closed") }
        XCTAssertEqual(granted(waiter), "b")
        XCTAssertEqual(woken.count, 2)
        XCTAssertTrue(woken.first === waiter)
        XCTAssertTrue(woken.last === other && m.racer === other, "the record left idle wakes the next thread to come for it")
        XCTAssertEqual(m.open, 2)
    }

    func testShutdownForgetsTheWokenThreadAndFailsIt() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], window: .milliseconds(1), clock: clock)
        let waiter = blocking()
        queue(waiter, in: &m)
        guard case .wakeRacer = m.release(slots[0]) else { return XCTFail("woken") }
        let (failed, idle) = m.beginShutdown()
        XCTAssertTrue(failed.first === waiter)
        XCTAssertEqual(idle.map(\.name), ["a"])
        XCTAssertNil(m.racer)
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: false).0, .granted, "it must look at its failure")
        XCTAssertNotNil(waiter.failure)
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
