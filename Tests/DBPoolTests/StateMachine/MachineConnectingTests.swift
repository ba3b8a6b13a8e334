@testable import DBPool
import DBPoolTesting
import XCTest

/// QueueStateMachine's connect gates, driven directly with fake records and a ManualClock:
/// `maxConnecting` over creates and reconnects, permits for queued waiters when a connect ends or
/// a record closes, and the connect backoff (one attempt at a time, not before `retryAt`, no
/// permits for the queue meanwhile, ended by the first success).
final class MachineConnectingTests: XCTestCase {
    private typealias Fixture = MachineFixture

    private struct Refused: Error, CustomStringConvertible {
        let attempt: Int
        var description: String { "refused \(attempt)" }
    }

    /// Waits 1 s, then 2 s, then 3 s (4 s, capped); a random draw of 1 takes half off.
    private let backoff = ConnectBackoff(initial: .seconds(1), maximum: .seconds(3), multiplier: 2, jitter: 0.5)

    private func machine(
        _ names: [String], poolSize: Int, maxConnecting: Int = 2, backoff: ConnectBackoff? = nil, clock: ManualClock
    ) -> (FakeMachine, [FakeSlot]) {
        let options = PoolOptions(clock: clock, maxConnecting: maxConnecting, connectBackoff: backoff, overtakeWindow: .zero)
        return Fixture.machine(names, poolSize: poolSize, options: options, clock: clock)
    }

    /// A machine over an empty pool whose first connect has just failed, backing off until 1 s
    /// from now.
    private func backingOff(poolSize: Int, clock: ManualClock) -> FakeMachine {
        var (m, _) = machine([], poolSize: poolSize, backoff: backoff, clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(Fixture.connectFailed(&m, Refused(attempt: 1)), .none, "nobody to wake")
        return m
    }

    // MARK: maxConnecting

    func testMaxConnectingBoundsConcurrentCreates() {
        let clock = ManualClock()
        var (m, _) = machine([], poolSize: 5, maxConnecting: 2, clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(m.prefill(), FakeAction(.create))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "free slots, but two connects are running")
        XCTAssertEqual(m.prefill(), .none)
        XCTAssertEqual([m.snapshot.open, m.snapshot.connecting], [2, 2])
        XCTAssertEqual(m.connectFinished(.created(FakeSlot("a"), checkout: nil), random: 0), .none)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create), "a finished connect frees its permit")
    }

    func testReconnectsOfIdleRecordsShareTheConnectPermits() {
        let clock = ManualClock()
        var (m, slots) = machine(["a", "b", "c"], poolSize: 4, maxConnecting: 2, clock: clock)
        for slot in slots { slot.needsConnect = true }
        Fixture.release(slots, to: &m)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.reconnect(slots[0])))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.reconnect(slots[1])))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "no permit for the third reconnect, nor for a new record")
        XCTAssertEqual(m.snapshot.idle, 1, "the record that could not be reconnected stays idle")
        XCTAssertEqual(m.snapshot.connecting, 2)
        XCTAssertEqual(m.counters.checkouts, 2)

        XCTAssertEqual(m.connectFinished(.reconnected, random: 0), .none)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.reconnect(slots[2])), "its turn once a permit is free")
    }

    func testACheckoutsOwnReconnectTakesAPermitWithoutBeingHeldBack() {
        let clock = ManualClock()
        var (m, _) = machine([], poolSize: 3, maxConnecting: 1, clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(m.reconnectStarted(), .none, "a failed pre-ping reconnects at once, over the limit")
        XCTAssertEqual(m.snapshot.connecting, 2)
        _ = m.connectFinished(.created(FakeSlot("a"), checkout: nil), random: 0)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "the reconnect still holds a permit")
        _ = m.connectFinished(.reconnected, random: 0)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
    }

    // MARK: Permits for the queue

    func testAQueuedWaiterIsGivenAPermitWhenAConnectFinishes() {
        let clock = ManualClock()
        var (m, _) = machine([], poolSize: 3, maxConnecting: 1, clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        let waiter = Fixture.blocking()
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait), "a free slot but no permit: it queues")
        XCTAssertEqual(m.connectFinished(.created(FakeSlot("a"), checkout: Fixture.site(1)), random: 0), Fixture.waking(waiter))
        XCTAssertTrue(Fixture.hasPermit(waiter))
        XCTAssertEqual([m.snapshot.open, m.snapshot.connecting, m.snapshot.waiting], [2, 1, 0])
        XCTAssertEqual(m.blockingWaiterWoke(waiter, timedOut: false), FakeAction(.create))
    }

    func testAQueuedWaiterIsGivenAnIdleRecordToReconnectWhenAConnectFinishesInAFullPool() {
        let clock = ManualClock()
        var (m, slots) = machine(["a", "b"], poolSize: 2, maxConnecting: 1, clock: clock)
        for slot in slots { slot.needsConnect = true }
        Fixture.release(slots, to: &m)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.reconnect(slots[0])))
        let waiter = Fixture.async()
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait), "b needs a permit, and none is free")
        XCTAssertEqual(m.connectFinished(.reconnected, random: 0), Fixture.waking(waiter))
        XCTAssertEqual(m.claim(waiter), FakeAction(.reconnect(slots[1])), "b comes with the freed permit")
        XCTAssertEqual([m.snapshot.idle, m.snapshot.connecting], [0, 1])
        XCTAssertEqual(m.counters.checkouts, 2)
    }

    func testAQueuedWaiterIsGivenAPermitWhenAnOverflowRecordCloses() {
        let clock = ManualClock()
        let options = PoolOptions(clock: clock, overtakeWindow: .zero)
        var (m, slots) = Fixture.machine(["a", "b"], poolSize: 1, maxOverflow: 1, options: options, clock: clock)
        XCTAssertEqual(m.release(slots[0]), .none)
        XCTAssertEqual(m.release(slots[1]), Fixture.closing([slots[1]], .overflow))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.use(slots[0])))
        let waiter = Fixture.async()
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait), "the closing record still holds its slot")
        XCTAssertEqual(m.closed([slots[1]]), Fixture.waking(waiter))
        XCTAssertEqual(m.claim(waiter), FakeAction(.create))
    }

    func testWithoutABackoffPolicyAFailureLetsTheQueueRetryAtOnce() {
        let clock = ManualClock()
        var (m, _) = machine([], poolSize: 1, clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        let waiter = Fixture.async()
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait))
        let expected = Fixture.effects(wake: Fixture.wakeups([waiter]), timer: .maintenance(at: m.timestamper.stamp(of: clock.now)))
        XCTAssertEqual(m.connectFinished(.failed(newRecord: true, creatorFailure: Refused(attempt: 1)), random: 0), FakeAction(.none, expected))
        XCTAssertEqual(m.claim(waiter), FakeAction(.create), "the freed slot goes to the queue, as SQLAlchemy retries")
        XCTAssertEqual(m.snapshot.consecutiveFailures, 1)
    }

    // MARK: Backoff

    func testWhileBackingOffOnlyOneAttemptRunsAndNotBeforeRetryAt() {
        let clock = ManualClock()
        var (m, _) = machine([], poolSize: 3, backoff: backoff, clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(Fixture.connectFailed(&m, Refused(attempt: 1)), .none)
        clock.advance(by: .seconds(1))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "retryAt has passed, but an attempt is still running")
        XCTAssertEqual(Fixture.connectFailed(&m, Refused(attempt: 2)), .none)
        XCTAssertEqual(m.snapshot.open, 0, "both slots given back")

        clock.advance(by: .seconds(2) - .nanoseconds(1))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "not before retryAt: the second failure waits twice as long")
        XCTAssertEqual(m.prefill(), .none, "pre-fill waits too")
        clock.advance(by: .nanoseconds(1))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create), "at retryAt: one attempt")
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "one at a time, though maxConnecting is 2")
    }

    func testRetryAtFollowsThePolicyForTheFailureCountAndTheRandomDraw() {
        let clock = ManualClock()
        var m = backingOff(poolSize: 1, clock: clock)
        // The wait after failures 1 to 4, and the random draw of failures 2 to 4.
        let delays: [Duration] = [.seconds(1), .seconds(2), .seconds(3), .milliseconds(1500)]
        let draws = [0.0, 0, 1]
        for (failures, delay) in zip(1..., delays) {
            clock.advance(by: delay - .nanoseconds(1))
            XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "not before \(delay) after failure \(failures)")
            clock.advance(by: .nanoseconds(1))
            XCTAssertEqual(m.acquire(site: nil), FakeAction(.create), "\(delay) after failure \(failures)")
            if failures <= draws.count {
                XCTAssertEqual(Fixture.connectFailed(&m, Refused(attempt: failures + 1), random: draws[failures - 1]), .none)
            }
        }
        XCTAssertEqual(m.snapshot.consecutiveFailures, 4)
    }

    func testQueuedWaitersAreGivenNoPermitsWhileBackingOff() {
        let clock = ManualClock()
        let options = PoolOptions(clock: clock, connectBackoff: backoff, overtakeWindow: .zero)
        var (m, slots) = Fixture.machine(["a"], poolSize: 2, options: options, clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        _ = m.connectFinished(.failed(newRecord: true, creatorFailure: Refused(attempt: 1)), random: 0)
        let waiter = Fixture.async()
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait))
        clock.advance(by: .milliseconds(500))
        slots[0].needsConnect = true
        XCTAssertEqual(m.release(slots[0]), .none, "before retryAt, a record that needs a connection is not handed over")
        clock.advance(by: .seconds(5))
        XCTAssertEqual(m.dispose(), Fixture.closing(slots, .disposed))
        XCTAssertEqual(m.closed(slots), .none, "a freed slot is not a permit either: maintenance probes")
        XCTAssertNil(waiter.grant)
        XCTAssertEqual([m.snapshot.open, m.snapshot.waiting], [0, 1])
    }

    func testTheFirstSuccessEndsTheBackoffAndGrantsPermits() {
        let clock = ManualClock()
        var m = backingOff(poolSize: 4, clock: clock)
        let first = Fixture.async(), second = Fixture.blocking(), third = Fixture.async()
        for waiter in [first, second, third] { XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait)) }
        clock.advance(by: .seconds(1))
        XCTAssertEqual(m.tick(now: clock.now, leakThreshold: nil).effects?.create, 1, "maintenance probes")

        let probe = FakeSlot("probe")
        XCTAssertEqual(
            m.connectFinished(.created(probe, checkout: nil), random: 0), Fixture.waking(first, second),
            "as many permits as maxConnecting allows")
        XCTAssertTrue(Fixture.hasPermit(first))
        XCTAssertTrue(Fixture.hasPermit(second))
        XCTAssertEqual(m.snapshot.consecutiveFailures, 0)
        XCTAssertEqual(m.release(probe), Fixture.waking(third), "the probe's connection goes to the next in line")
        XCTAssertEqual(Fixture.granted(third), "probe")
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait), "two connects running again")
    }

    func testAConnectListenerFailureDoesNotBackOff() {
        let clock = ManualClock()
        var (m, _) = machine([], poolSize: 1, maxConnecting: 1, backoff: backoff, clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        let waiter = Fixture.async()
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait))
        XCTAssertEqual(
            m.connectFinished(.failed(newRecord: true, creatorFailure: nil), random: 0), Fixture.waking(waiter),
            "the database answered: no backoff, no timer, and the freed slot goes to the queue")
        XCTAssertEqual(m.snapshot.consecutiveFailures, 0)
        XCTAssertNil(m.snapshot.lastConnectError)
        XCTAssertEqual(m.claim(waiter), FakeAction(.create))
    }

    func testAConnectListenerFailureEndsABackoff() {
        let clock = ManualClock()
        var m = backingOff(poolSize: 2, clock: clock)
        clock.advance(by: .seconds(1))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(m.connectFinished(.failed(newRecord: true, creatorFailure: nil), random: 0), .none)
        XCTAssertEqual(m.snapshot.consecutiveFailures, 0, "the database answered")
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create), "no longer one at a time")
    }

    func testTheSnapshotKeepsTheLastConnectErrorButTheTimeoutDetailOnlyWhileFailing() {
        let clock = ManualClock()
        var m = backingOff(poolSize: 1, clock: clock)
        XCTAssertEqual(m.snapshot.consecutiveFailures, 1)
        XCTAssertEqual(m.snapshot.lastConnectError.map { "\($0)" }, "refused 1")
        XCTAssertEqual(m.snapshot.timeoutDetail.lastConnectError.map { "\($0)" }, "refused 1", "a timeout now says why")

        clock.advance(by: .seconds(1))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(Fixture.connectFailed(&m, Refused(attempt: 2)), .none)
        XCTAssertEqual(m.snapshot.consecutiveFailures, 2)
        XCTAssertEqual(m.snapshot.lastConnectError.map { "\($0)" }, "refused 2", "the latest error")

        clock.advance(by: .seconds(2))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(m.connectFinished(.created(FakeSlot("a"), checkout: nil), random: 0), .none)
        XCTAssertEqual(m.snapshot.consecutiveFailures, 0)
        XCTAssertEqual(m.snapshot.lastConnectError.map { "\($0)" }, "refused 2", "kept for statistics")
        XCTAssertNil(m.snapshot.timeoutDetail.lastConnectError, "a timeout after a success is not blamed on the database")
    }

    /// A failed connect asks for maintenance at the retryAt that failure set.
    func testAFailedConnectAsksForMaintenanceAtTheNewRetryAt() {
        let clock = ManualClock()
        let options = PoolOptions(clock: clock, connectBackoff: ConnectBackoff(initial: .seconds(1), jitter: 0), overtakeWindow: .zero)
        var (m, _) = Fixture.machine([], poolSize: 1, options: options, clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(
            m.connectFinished(.failed(newRecord: true, creatorFailure: Refused(attempt: 0)), random: 0), Fixture.maintenance(at: clock.now + .seconds(1), on: m),
            "first failure: retry in 1 s")
        clock.advance(by: .seconds(1))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        XCTAssertEqual(
            m.connectFinished(.failed(newRecord: true, creatorFailure: Refused(attempt: 0)), random: 0), Fixture.maintenance(at: clock.now + .seconds(2), on: m),
            "second failure: retry in 2 s")
    }

    /// While backing off, queued waiters are not handed the retry, not even with a returned
    /// record that needs a new connection once retryAt has passed: the maintenance thread
    /// probes, so a waiter never receives a connect error early.
    func testWhileBackingOffAReturnedRecordThatNeedsAConnectionIsNotHandedToTheQueue() {
        let clock = ManualClock()
        let options = PoolOptions(clock: clock, connectBackoff: ConnectBackoff(initial: .seconds(1), jitter: 0), overtakeWindow: .zero)
        var (m, slots) = Fixture.machine(["a"], poolSize: 2, options: options, clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        _ = m.connectFinished(.failed(newRecord: true, creatorFailure: Refused(attempt: 0)), random: 0)
        let waiter = Fixture.async()
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait))
        clock.advance(by: .seconds(1))
        slots[0].needsConnect = true
        XCTAssertEqual(m.release(slots[0]), .none, "the record should stay idle for the maintenance probe")
        XCTAssertNil(waiter.grant, "the waiter should not be handed the connect attempt")
    }
}
