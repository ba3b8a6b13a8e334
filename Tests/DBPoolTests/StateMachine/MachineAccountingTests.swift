@testable import DBPool
import DBPoolTesting
import XCTest

/// QueueStateMachine's accounting, driven directly with fake records: `open`, idle, checked out
/// and overflow through checkouts, returns, connects and closes; checkout counting; pool size and
/// overflow limits; LIFO and FIFO; dispose. No pool, no threads, no time.
final class MachineAccountingTests: XCTestCase {
    private typealias Fixture = MachineFixture

    private struct Refused: Error {}

    private func machine(
        _ names: [String], poolSize: Int? = nil, maxOverflow: Int = 0, useLIFO: Bool = false, clock: ManualClock = ManualClock()
    ) -> (FakeMachine, [FakeSlot]) {
        Fixture.machine(names, poolSize: poolSize, maxOverflow: maxOverflow, useLIFO: useLIFO, options: PoolOptions(clock: clock), clock: clock)
    }

    /// `[open, idle, checkedOut, overflow, connecting, waiting]`
    private func figures(_ m: FakeMachine) -> [Int] {
        let s = m.snapshot
        return [s.open, s.idle, s.checkedOut, s.overflow, s.connecting, s.waiting]
    }

    func testCheckoutsAndReturnsMoveRecordsBetweenIdleAndCheckedOut() {
        var (m, slots) = machine(["a", "b"])
        XCTAssertEqual(figures(m), [2, 0, 2, 0, 0, 0], "the fixture's records start checked out")
        Fixture.release(slots, to: &m)
        XCTAssertEqual(figures(m), [2, 2, 0, 0, 0, 0])

        let site = Fixture.site(1)
        XCTAssertEqual(m.acquire(site: site), FakeAction(.use(slots[0])))
        XCTAssertEqual(slots[0].checkoutSite, site, "the record notes who holds it")
        XCTAssertEqual(figures(m), [2, 1, 1, 0, 0, 0])
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.use(slots[1])))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "pool full and no overflow: wait")
        XCTAssertEqual(figures(m), [2, 0, 2, 0, 0, 0], "the first look never queues")
        XCTAssertEqual(m.counters.checkouts, 2)

        XCTAssertEqual(m.release(slots[0]), .none)
        XCTAssertNil(slots[0].checkoutSite, "a return clears the holder")
        XCTAssertEqual(figures(m), [2, 1, 1, 0, 0, 0])
    }

    func testCheckedOutConnectionsListEachHolderAndHowLongItHasHeldIt() {
        let clock = ManualClock()
        var (m, slots) = machine(["a", "b"], clock: clock)
        Fixture.release(slots, to: &m)
        XCTAssertEqual(m.acquire(site: Fixture.site(7)), FakeAction(.use(slots[0])))
        clock.advance(by: .seconds(3))
        let out = m.checkedOutConnections(now: clock.now)
        XCTAssertEqual(out.map(\.site), [Fixture.site(7)])
        XCTAssertEqual(out.map(\.age), [.seconds(3)])
    }

    func testOverflowRecordsAreCreatedUpToMaxOverflowAndClosedOnReturn() {
        var (m, _) = machine([], poolSize: 1, maxOverflow: 1)
        XCTAssertEqual(figures(m), [0, 0, 0, -1, 0, 0], "overflow is signed, as SQLAlchemy's")
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(figures(m), [1, 0, 1, 0, 1, 0], "the slot and the permit are taken before the connect")
        let a = FakeSlot("a"), b = FakeSlot("b")
        XCTAssertEqual(m.connectFinished(.created(a, checkout: Fixture.site(1)), random: 0), .none)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create), "one overflow slot")
        XCTAssertEqual(m.connectFinished(.created(b, checkout: Fixture.site(2)), random: 0), .none)
        XCTAssertEqual(figures(m), [2, 0, 2, 1, 0, 0])
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "poolSize + maxOverflow reached")

        XCTAssertEqual(m.release(b), .none, "room in the idle store")
        XCTAssertEqual(m.release(a), Fixture.closing([a], .overflow), "beyond poolSize: closed")
        XCTAssertEqual(figures(m), [2, 1, 1, 1, 0, 0], "a closing record keeps its slot until it is closed")
        XCTAssertEqual(m.closed([a]), .none)
        XCTAssertEqual(figures(m), [1, 1, 0, 0, 0, 0])
        XCTAssertEqual(m.records.count, 1, "a closed record is forgotten")
    }

    func testUnlimitedOverflowCreatesWithoutLimitAndKeepsOnlyPoolSizeIdle() {
        var (m, _) = machine([], poolSize: 1, maxOverflow: -1)
        let slots = (0..<20).map { FakeSlot("r\($0)") }
        for slot in slots {
            XCTAssertEqual(m.acquire(site: nil), FakeAction(.create), "maxOverflow -1: no limit")
            XCTAssertEqual(m.connectFinished(.created(slot, checkout: nil), random: 0), .none)
        }
        XCTAssertEqual(m.release(slots[0]), .none)
        XCTAssertEqual(m.release(slots[1]), Fixture.closing([slots[1]], .overflow))
    }

    func testPoolSizeZeroIsUnlimitedAndKeepsEveryReturnIdle() {
        var (m, _) = machine([], poolSize: 0, maxOverflow: 3)
        let slots = (0..<20).map { FakeSlot("r\($0)") }
        for slot in slots {
            XCTAssertEqual(m.acquire(site: nil), FakeAction(.create), "pool_size 0: no limit, whatever maxOverflow says")
            XCTAssertEqual(m.connectFinished(.created(slot, checkout: nil), random: 0), .none)
        }
        Fixture.release(slots, to: &m)
        XCTAssertEqual(figures(m), [20, 20, 0, 0, 0, 0], "nothing is overflow, nothing is closed")
    }

    func testFIFOTakesTheOldestReturnAndLIFOTheNewest() {
        for useLIFO in [false, true] {
            var (m, slots) = machine(["a", "b", "c"], useLIFO: useLIFO)
            Fixture.release(slots, to: &m)
            var order: [String] = []
            for _ in slots {
                guard case let .use(slot) = m.acquire(site: nil).next else { return XCTFail("expected an idle record") }
                order.append(slot.name)
            }
            XCTAssertEqual(order, useLIFO ? ["c", "b", "a"] : ["a", "b", "c"], "useLIFO \(useLIFO)")
        }
    }

    func testAFailedCheckoutIsNotCounted() {
        var (m, slots) = machine(["a"])
        Fixture.release(slots, to: &m)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.use(slots[0])))
        XCTAssertEqual(m.counters.checkouts, 1)
        XCTAssertEqual(m.release(slots[0], afterFailedCheckout: true), .none, "the record still goes back")
        XCTAssertEqual(m.counters.checkouts, 0, "a checkout that failed is not one")
        XCTAssertEqual(figures(m), [1, 1, 0, 0, 0, 0])

        // Handed to a waiter, then its checkout fails: not counted either.
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.use(slots[0])))
        let waiter = Fixture.async()
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait))
        XCTAssertEqual(m.release(slots[0]), Fixture.waking(waiter))
        XCTAssertEqual(m.counters.checkouts, 2, "a grant counts when it is made")
        XCTAssertEqual(m.claim(waiter), FakeAction(.use(slots[0])))
        XCTAssertEqual(m.release(slots[0], afterFailedCheckout: true), .none)
        XCTAssertEqual(m.counters.checkouts, 1)
    }

    func testANewRecordCountsAsACheckoutOnlyWhenACheckoutAskedForIt() {
        var (m, _) = machine([], poolSize: 2)
        let filler = FakeSlot("filler"), asked = FakeSlot("asked")
        XCTAssertEqual(m.prefill(), FakeAction(.create))
        XCTAssertEqual(m.connectFinished(.created(filler, checkout: nil), random: 0), .none)
        XCTAssertEqual(m.counters.checkouts, 0, "a pre-fill connection is nobody's checkout")
        XCTAssertNil(filler.checkoutSite)

        XCTAssertEqual(m.acquire(site: Fixture.site(3)), FakeAction(.create))
        XCTAssertEqual(m.counters.checkouts, 0, "counted once the connect succeeds")
        XCTAssertEqual(m.connectFinished(.created(asked, checkout: Fixture.site(3)), random: 0), .none)
        XCTAssertEqual(m.counters.checkouts, 1)
        XCTAssertEqual(asked.checkoutSite, Fixture.site(3))
        XCTAssertEqual(figures(m), [2, 0, 2, 0, 0, 0])
    }

    func testAFailedNewConnectGivesItsSlotBackAndAFailedReconnectKeepsIt() {
        let clock = ManualClock()
        var (m, _) = machine([], poolSize: 1, clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "the only slot is taken by the connect")
        XCTAssertEqual(
            m.connectFinished(.failed(newRecord: true, creatorFailure: Refused()), random: 0), Fixture.maintenance(at: clock.now, on: m),
            "without a backoff policy, maintenance may retry at once")
        XCTAssertEqual(figures(m), [0, 0, 0, -1, 0, 0], "the slot is free again")

        let a = FakeSlot("a")
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(m.connectFinished(.created(a, checkout: nil), random: 0), .none)
        a.needsConnect = true
        Fixture.release([a], to: &m)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.reconnect(a)))
        XCTAssertEqual(m.counters.checkouts, 1)
        _ = m.connectFinished(.failed(newRecord: false, creatorFailure: Refused()), random: 0)
        XCTAssertEqual(figures(m), [1, 0, 1, 0, 0, 0], "the record keeps its slot")
        XCTAssertEqual(m.release(a, afterFailedCheckout: true), .none)
        XCTAssertEqual(figures(m), [1, 1, 0, 0, 0, 0])
        XCTAssertEqual(m.counters.checkouts, 0)
    }

    func testDisposeClosesIdleRecordsInCheckoutOrder() {
        for useLIFO in [false, true] {
            var (m, slots) = machine(["a", "b", "c"], useLIFO: useLIFO)
            Fixture.release(slots, to: &m)
            let order = useLIFO ? [slots[2], slots[1], slots[0]] : slots
            XCTAssertEqual(m.dispose(), Fixture.closing(order, .disposed), "useLIFO \(useLIFO)")
            XCTAssertEqual(figures(m), [3, 0, 3, 0, 0, 0], "counted until they are closed")
            XCTAssertEqual(m.closed(order), .none)
            XCTAssertEqual(figures(m), [0, 0, 0, -3, 0, 0])
            XCTAssertEqual(m.dispose(), .none, "nothing idle: nothing to do")
        }
    }

    func testDisposeLeavesCheckedOutRecordsCountedAndTheyArePooledOnReturn() {
        var (m, slots) = machine(["a", "b"])
        Fixture.release([slots[0]], to: &m)
        XCTAssertEqual(m.dispose(), Fixture.closing([slots[0]], .disposed))
        XCTAssertEqual(m.closed([slots[0]]), .none)
        XCTAssertEqual(figures(m), [1, 0, 1, -1, 0, 0], "only the record it closed is subtracted")
        XCTAssertEqual(m.release(slots[1]), .none, "pooled normally")
        XCTAssertEqual(figures(m), [1, 1, 0, -1, 0, 0])
    }

    func testClosedRecordsGiveTheirSlotsToQueuedWaitersAsPermits() {
        var (m, slots) = machine(["a", "b"])
        Fixture.release(slots, to: &m)
        XCTAssertEqual(m.dispose(), Fixture.closing(slots, .disposed))
        let first = Fixture.blocking(), second = Fixture.async()
        XCTAssertEqual(m.acquire(enqueueing: first), FakeAction(.wait), "the closing records still hold their slots")
        XCTAssertEqual(m.acquire(enqueueing: second), FakeAction(.wait))

        XCTAssertEqual(m.closed(slots), Fixture.waking(first, second), "each freed slot goes to the queue, in order")
        XCTAssertTrue(Fixture.hasPermit(first))
        XCTAssertTrue(Fixture.hasPermit(second))
        XCTAssertEqual(figures(m), [2, 0, 2, 0, 2, 0], "the slots and permits are taken for them")
        XCTAssertEqual(m.blockingWaiterWoke(first, timedOut: false), FakeAction(.create))
        XCTAssertEqual(m.claim(second), FakeAction(.create))
        XCTAssertEqual(m.counters.checkouts, 0, "counted when their connects succeed")
        XCTAssertEqual(m.counters.waits, 2)
    }

    func testAReturnAfterShutdownIsClosed() {
        var (m, slots) = machine(["a", "b"])
        XCTAssertEqual(m.shutdown(), .none, "nothing idle, nobody queued")
        XCTAssertEqual(m.release(slots[0]), Fixture.closing([slots[0]], .shutdown))
        XCTAssertNil(slots[0].checkoutSite, "checked in before it is closed")
        XCTAssertEqual(m.finishShutdown().next, .none)
        XCTAssertEqual(m.release(slots[1]), Fixture.closing([slots[1]], .shutdown), "after the grace period too")
        XCTAssertEqual(figures(m), [2, 0, 2, 0, 0, 0], "counted until they are closed")
        XCTAssertEqual(m.closed(slots), .none)
        XCTAssertEqual(m.snapshot.open, 0)
    }
}
