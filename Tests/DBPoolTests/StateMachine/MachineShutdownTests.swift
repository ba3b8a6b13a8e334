@testable import DBPool
import DBPoolTesting
import XCTest

/// QueueStateMachine's shutdown, driven directly with fake records: queued waiters fail, idle
/// records close, new checkouts are refused, records coming back (from a holder, a ping or a
/// connect) are closed, and the end of the grace period reports who still holds a connection.
final class MachineShutdownTests: XCTestCase {
    private typealias Fixture = MachineFixture

    private func machine(
        _ names: [String], poolSize: Int? = nil, minIdle: Int = 0, keepAlive: Duration? = nil, maxConnecting: Int = 2,
        clock: ManualClock = ManualClock()
    ) -> (FakeMachine, [FakeSlot]) {
        let options = PoolOptions(clock: clock, minIdle: minIdle, keepAlive: keepAlive, maxConnecting: maxConnecting, overtakeWindow: .zero)
        return Fixture.machine(names, poolSize: poolSize, options: options, clock: clock)
    }

    func testShutdownFailsEveryQueuedWaiterBlockingAndAsyncInQueueOrder() {
        var (m, slots) = machine(["a"])
        let first = Fixture.blocking(), second = Fixture.async(deadline: 1_000), third = Fixture.blocking()
        for waiter in [first, second, third] { _ = m.acquire(enqueueing: waiter) }
        XCTAssertEqual(m.waiting, 3)

        XCTAssertEqual(
            m.shutdown(), FakeAction(.none, Fixture.effects(wake: Fixture.wakeups([first, second, third], failure: .shutDown))))
        XCTAssertEqual(m.snapshot.phase, .shuttingDown)
        XCTAssertEqual(m.waiting, 0)
        XCTAssertEqual(m.blockingWaiterWoke(first, timedOut: false), FakeAction(.fail(.shutDown)))
        XCTAssertEqual(m.claim(second), FakeAction(.fail(.shutDown)))
        XCTAssertEqual(m.blockingWaiterWoke(third, timedOut: true), FakeAction(.fail(.shutDown)), "its failure, not a timeout")
        XCTAssertEqual(m.expire(now: 2_000), .none, "the failed waiter left the deadline watch list")
        XCTAssertEqual(m.counters.timeouts, 0)
        XCTAssertEqual(m.release(slots[0]), Fixture.closing(slots, .shutdown), "nobody is left to hand it to")
    }

    func testShutdownClosesIdleRecordsFailsTheQueueAndRefusesNewCheckouts() {
        var (m, slots) = machine(["a", "b", "c"], maxConnecting: 1)
        let (a, b, c) = (slots[0], slots[1], slots[2])
        a.needsConnect = true
        b.needsConnect = true
        Fixture.release([a, b], to: &m)
        XCTAssertEqual(m.reconnectStarted(), .none, "c's checkout holds the only permit")
        let waiter = Fixture.async()
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait), "idle records that need a permit, and none is free")

        let expected = Fixture.effects(wake: Fixture.wakeups([waiter], failure: .shutDown), close: [a, b], reason: .shutdown)
        XCTAssertEqual(m.shutdown(), FakeAction(.none, expected), "one action: the queue fails and the idle records close")
        XCTAssertEqual([m.snapshot.open, m.snapshot.idle], [3, 0], "counted until they are closed")

        XCTAssertEqual(m.acquire(site: nil), FakeAction(.fail(.shutDown)))
        XCTAssertEqual(m.acquire(enqueueing: Fixture.blocking()), FakeAction(.fail(.shutDown)), "nobody queues any more")
        XCTAssertEqual(m.waiting, 0)
        XCTAssertEqual(m.closed([a, b]), .none)
        _ = m.connectFinished(.reconnected, random: 0)
        XCTAssertEqual(m.prefill(), .none, "slots and a permit are free, but nothing is opened any more")
        XCTAssertEqual(m.release(c), Fixture.closing([c], .shutdown))
    }

    func testFinishShutdownReportsTheSitesOfConnectionsStillOut() {
        var (m, slots) = machine(["a", "b", "c"])
        Fixture.release(slots, to: &m)
        XCTAssertEqual(m.acquire(site: Fixture.site(1)), FakeAction(.use(slots[0])))
        XCTAssertEqual(m.acquire(site: Fixture.site(2)), FakeAction(.use(slots[1])))
        XCTAssertEqual(m.shutdown(), Fixture.closing([slots[2]], .shutdown))
        XCTAssertEqual(m.closed([slots[2]]), .none)

        let action = m.finishShutdown()
        XCTAssertEqual(action.next, .none)
        XCTAssertEqual(Set(action.effects?.stillCheckedOut.compactMap { $0 } ?? []), [Fixture.site(1), Fixture.site(2)])
        XCTAssertEqual(action.effects?.stillCheckedOut.count, 2)
        XCTAssertEqual(m.snapshot.phase, .shutDown)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.fail(.shutDown)))
        XCTAssertEqual(m.release(slots[0]), Fixture.closing([slots[0]], .shutdown), "closed as it comes back")

        var (quiet, records) = machine(["a"])
        Fixture.release(records, to: &quiet)
        _ = quiet.shutdown()
        XCTAssertEqual(quiet.finishShutdown(), .none, "nothing out: nothing to report")
    }

    func testARecordBackFromAPingDuringShutdownIsClosedNotReconnected() {
        let clock = ManualClock()
        var (m, slots) = machine(["a", "b"], keepAlive: .seconds(5), clock: clock)
        Fixture.release(slots, to: &m)
        clock.advance(by: .seconds(5))
        XCTAssertEqual(m.tick(now: clock.now, leakThreshold: nil), FakeAction(.none, Fixture.effects(ping: slots)))
        XCTAssertEqual(m.shutdown(), .none, "the records being pinged are not idle")
        XCTAssertEqual(m.pinged(slots[0], alive: false), Fixture.closing([slots[0]], .shutdown), "a dead one is not reconnected")
        XCTAssertEqual(m.pinged(slots[1], alive: true), Fixture.closing([slots[1]], .shutdown))
        XCTAssertEqual(m.snapshot.connecting, 0)
    }

    func testAConnectFinishingDuringShutdownHasItsRecordClosedOnReturn() {
        let clock = ManualClock()
        var (m, _) = machine([], poolSize: 2, minIdle: 1, clock: clock)
        XCTAssertEqual(m.tick(now: clock.now, leakThreshold: nil), FakeAction(.none, Fixture.effects(create: 1)))
        XCTAssertEqual(m.shutdown(), .none)
        let late = FakeSlot("late")
        XCTAssertEqual(m.connectFinished(.created(late, checkout: nil), random: 0), .none)
        XCTAssertEqual(m.release(late), Fixture.closing([late], .shutdown))
        XCTAssertEqual(m.closed([late]), .none)
        XCTAssertEqual([m.snapshot.open, m.snapshot.connecting], [0, 0], "nothing left: the grace period can end")
    }
}
