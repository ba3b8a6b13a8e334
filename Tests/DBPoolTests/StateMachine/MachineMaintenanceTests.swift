@testable import DBPool
import DBPoolTesting
import XCTest

/// QueueStateMachine's maintenance tick, driven directly with fake records and a ManualClock:
/// idle timeout above `minIdle`, keep-alive pings and their outcome, `minIdle` top-up, backoff
/// probes for the queue, leak reports, and when the next tick is due.
final class MachineMaintenanceTests: XCTestCase {
    private typealias Fixture = MachineFixture

    private struct Refused: Error {}

    private func machine(
        _ names: [String], poolSize: Int? = nil, minIdle: Int = 0, idleTimeout: Duration? = nil, keepAlive: Duration? = nil,
        maxConnecting: Int = 2, backoff: ConnectBackoff? = nil, clock: ManualClock
    ) -> (FakeMachine, [FakeSlot]) {
        let options = PoolOptions(
            clock: clock, minIdle: minIdle, idleTimeout: idleTimeout, keepAlive: keepAlive, maxConnecting: maxConnecting,
            connectBackoff: backoff, overtakeWindow: .zero)
        return Fixture.machine(names, poolSize: poolSize, options: options, clock: clock)
    }

    private func tick(_ m: inout FakeMachine, _ clock: ManualClock, leakThreshold: Duration? = nil) -> FakeAction {
        m.tick(now: clock.now, leakThreshold: leakThreshold)
    }

    // MARK: Idle timeout

    func testIdleRecordsPastIdleTimeoutAreClosedDownToMinIdle() {
        let clock = ManualClock()
        let start = clock.now
        var (m, slots) = machine(["a", "b", "c", "d"], minIdle: 1, idleTimeout: .seconds(10), clock: clock)
        Fixture.release(Array(slots[0...1]), to: &m)
        clock.advance(by: .seconds(5))
        Fixture.release(Array(slots[2...3]), to: &m)
        clock.advance(by: .seconds(5))
        XCTAssertEqual(
            tick(&m, clock), FakeAction(.none, Fixture.effects(close: Array(slots[0...1]), reason: .idleTimeout, timer: .maintenance(at: m.timestamper.stamp(of: start + .seconds(15))))),
            "a and b are due; the next tick is when c is")
        XCTAssertEqual([m.snapshot.open, m.snapshot.idle], [4, 2], "counted until they are closed")
        XCTAssertEqual(m.closed(Array(slots[0...1])), .none)

        clock.advance(by: .seconds(5))
        XCTAssertEqual(tick(&m, clock), Fixture.closing([slots[2]], .idleTimeout), "d is kept for minIdle, so nothing else is due")
        clock.advance(by: .seconds(3600))
        XCTAssertEqual(tick(&m, clock), .none)
        XCTAssertEqual(m.snapshot.idle, 1)
    }

    func testEachReturnRestartsTheIdleTime() {
        let clock = ManualClock()
        let start = clock.now
        var (m, slots) = machine(["a"], idleTimeout: .seconds(60), clock: clock)
        Fixture.release(slots, to: &m)
        clock.advance(by: .seconds(40))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.use(slots[0])))
        Fixture.release(slots, to: &m)
        clock.advance(by: .seconds(40))
        XCTAssertEqual(tick(&m, clock), Fixture.maintenance(at: start + .seconds(100), on: m), "used 40 s ago: due at 100 s, not closed at 80 s")
    }

    func testWithKeepAliveARecordPingedAliveKeepsItsIdleTimeWhereverItIsInTheStore() {
        let clock = ManualClock()
        let start = clock.now
        var (m, slots) = machine(["a", "b"], idleTimeout: .seconds(8), keepAlive: .seconds(6), clock: clock)
        let (a, b) = (slots[0], slots[1])
        Fixture.release([a], to: &m)
        clock.advance(by: .seconds(3))
        Fixture.release([b], to: &m)
        clock.advance(by: .seconds(3))
        XCTAssertEqual(tick(&m, clock), FakeAction(.none, Fixture.effects(ping: [a], timer: .maintenance(at: m.timestamper.stamp(of: start + .seconds(8))))))
        XCTAssertEqual(m.pinged(a, alive: true), .none)
        XCTAssertEqual(a.idleSince, start, "a ping is not a use")
        XCTAssertEqual(a.lastPinged, start + .seconds(6))

        // a is now behind b in the store, and due first.
        clock.advance(by: .seconds(2))
        XCTAssertEqual(
            tick(&m, clock), FakeAction(.none, Fixture.effects(close: [a], reason: .idleTimeout, timer: .maintenance(at: m.timestamper.stamp(of: start + .seconds(9))))),
            "a has been idle 8 s; b is due a ping at 9 s")
    }

    // MARK: Keep-alive

    func testKeepAliveTakesTheRecordsDueAPingOutOfTheIdleStore() {
        let clock = ManualClock()
        let start = clock.now
        var (m, slots) = machine(["a", "b", "c"], keepAlive: .seconds(5), clock: clock)
        for slot in slots {
            Fixture.release([slot], to: &m)
            clock.advance(by: .seconds(2))
        }
        clock.advance(by: .seconds(1))
        XCTAssertEqual(tick(&m, clock), FakeAction(.none, Fixture.effects(ping: Array(slots[0...1]), timer: .maintenance(at: m.timestamper.stamp(of: start + .seconds(9))))))
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.use(slots[2])), "records being pinged are not handed out")
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.wait))
        XCTAssertEqual(m.pinged(slots[0], alive: true), .none)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.use(slots[0])), "back for checkouts after the ping")
    }

    func testADeadPingIsReconnectedWhenAPermitIsFree() {
        let clock = ManualClock()
        var (m, slots) = machine(["a"], keepAlive: .seconds(5), clock: clock)
        Fixture.release(slots, to: &m)
        clock.advance(by: .seconds(5))
        XCTAssertEqual(tick(&m, clock), FakeAction(.none, Fixture.effects(ping: slots)))
        XCTAssertEqual(m.pinged(slots[0], alive: false), FakeAction(.none, Fixture.effects(reconnect: slots)))
        XCTAssertEqual([m.snapshot.idle, m.snapshot.connecting], [0, 1])
        XCTAssertEqual(m.connectFinished(.reconnected, random: 0), .none)
        XCTAssertEqual(m.release(slots[0]), .none)
        XCTAssertEqual([m.snapshot.idle, m.snapshot.connecting], [1, 0])
    }

    func testADeadPingGoesBackWithoutAReconnectWhenNoPermitIsFree() {
        let clock = ManualClock()
        var (m, slots) = machine(["a", "b"], keepAlive: .seconds(5), maxConnecting: 1, clock: clock)
        Fixture.release([slots[0]], to: &m)
        XCTAssertEqual(m.reconnectStarted(), .none, "b's checkout holds the only permit")
        clock.advance(by: .seconds(5))
        XCTAssertEqual(tick(&m, clock), FakeAction(.none, Fixture.effects(ping: [slots[0]])))
        XCTAssertEqual(m.pinged(slots[0], alive: false), .none, "back to the idle store, for the next checkout or top-up")
        XCTAssertEqual([m.snapshot.idle, m.snapshot.connecting], [1, 1])
        XCTAssertEqual(slots[0].idleSince, clock.now)
    }

    // MARK: minIdle

    func testMinIdleIsToppedUpWithNewConnectionsWithinMaxConnecting() {
        let clock = ManualClock()
        var (m, _) = machine([], poolSize: 5, minIdle: 3, clock: clock)
        XCTAssertEqual(tick(&m, clock), FakeAction(.none, Fixture.effects(create: 2)), "two at a time")
        XCTAssertEqual([m.snapshot.open, m.snapshot.connecting], [2, 2])
        XCTAssertEqual(tick(&m, clock), .none, "no permit left")

        let first = FakeSlot("first")
        XCTAssertEqual(m.connectFinished(.created(first, checkout: nil), random: 0), .none)
        Fixture.release([first], to: &m)
        XCTAssertEqual(tick(&m, clock), FakeAction(.none, Fixture.effects(create: 1)), "one idle and one connecting count towards 3")
        for name in ["second", "third"] {
            let slot = FakeSlot(name)
            _ = m.connectFinished(.created(slot, checkout: nil), random: 0)
            Fixture.release([slot], to: &m)
        }
        XCTAssertEqual(tick(&m, clock), .none)
        XCTAssertEqual([m.snapshot.open, m.snapshot.idle], [3, 3])
    }

    func testMinIdleCountsOnlyConnectedRecordsAndReconnectsEmptyOnesInAFullPool() {
        let clock = ManualClock()
        var (m, slots) = machine(["a", "b"], minIdle: 2, clock: clock)
        Fixture.release(slots, to: &m)
        slots[0].hasConnection = false
        XCTAssertEqual(tick(&m, clock), FakeAction(.none, Fixture.effects(reconnect: [slots[0]])))
        XCTAssertEqual([m.snapshot.idle, m.snapshot.connecting], [1, 1])
        XCTAssertEqual(m.connectFinished(.reconnected, random: 0), .none)
        slots[0].hasConnection = true
        Fixture.release([slots[0]], to: &m)
        XCTAssertEqual(tick(&m, clock), .none)
    }

    // MARK: Backoff probes

    func testABackoffProbeConnectsForTheQueueOnceRetryAtHasPassed() {
        let clock = ManualClock()
        let start = clock.now
        var (m, _) = machine([], poolSize: 2, backoff: ConnectBackoff(initial: .seconds(1), jitter: 0), clock: clock)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.create))
        _ = m.connectFinished(.failed(newRecord: true, creatorFailure: Refused()), random: 0)
        let waiter = Fixture.async()
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait))
        XCTAssertEqual(tick(&m, clock), Fixture.maintenance(at: start + .seconds(1), on: m), "nothing before retryAt; the next tick is then")

        clock.advance(by: .seconds(1))
        XCTAssertEqual(tick(&m, clock), FakeAction(.none, Fixture.effects(create: 1, timer: .maintenance(at: m.timestamper.stamp(of: start + .seconds(1))))))
        XCTAssertNil(waiter.grant, "the probe is maintenance's own connect, not the waiter's")
        XCTAssertEqual([m.snapshot.open, m.snapshot.connecting, m.snapshot.waiting], [1, 1, 1])
        XCTAssertEqual(tick(&m, clock), Fixture.maintenance(at: start + .seconds(1), on: m), "one probe at a time")

        XCTAssertEqual(Fixture.connectFailed(&m, Refused()), .none, "the waiter is not failed with the probe's error")
        XCTAssertEqual(tick(&m, clock), Fixture.maintenance(at: start + .seconds(3), on: m), "the second failure waits twice as long")

        // Nobody queued: no probe (and no minIdle), so nothing is due.
        _ = m.cancel(waiter)
        clock.advance(by: .seconds(2))
        XCTAssertEqual(tick(&m, clock), .none)
    }

    func testABackoffProbeInAFullPoolReconnectsAnIdleRecordAndItsConnectionGoesToTheQueue() {
        let clock = ManualClock()
        let start = clock.now
        var (m, slots) = machine(["a"], backoff: ConnectBackoff(initial: .seconds(1), jitter: 0), clock: clock)
        let a = slots[0]
        a.needsConnect = true
        Fixture.release([a], to: &m)
        XCTAssertEqual(m.acquire(site: nil), FakeAction(.reconnect(a)))
        XCTAssertEqual(Fixture.connectFailed(&m, Refused(), newRecord: false), .none)
        XCTAssertEqual(m.release(a, afterFailedCheckout: true), .none)
        let waiter = Fixture.async()
        XCTAssertEqual(m.acquire(enqueueing: waiter), FakeAction(.wait), "a needs a connection, and retryAt has not passed")

        clock.advance(by: .seconds(1))
        XCTAssertEqual(tick(&m, clock), FakeAction(.none, Fixture.effects(reconnect: [a], timer: .maintenance(at: m.timestamper.stamp(of: start + .seconds(1))))))
        XCTAssertEqual(m.connectFinished(.reconnected, random: 0), .none, "nothing to grant: the pool is full and a is out")
        a.needsConnect = false
        XCTAssertEqual(m.release(a), Fixture.waking(waiter), "the probe's connection goes to the head of the queue")
        XCTAssertEqual(Fixture.granted(waiter), "a")
    }

    // MARK: The next tick, leaks, shutdown

    func testTheTimerIsTheEarliestDueWorkAndAbsentWhenNothingIsDue() {
        let clock = ManualClock()
        let start = clock.now
        var (m, slots) = machine(["a", "b"], idleTimeout: .seconds(10), keepAlive: .seconds(4), clock: clock)
        Fixture.release([slots[0]], to: &m)
        XCTAssertEqual(tick(&m, clock, leakThreshold: .seconds(7)), Fixture.maintenance(at: start + .seconds(4), on: m), "a's ping comes first")
        XCTAssertEqual(tick(&m, clock, leakThreshold: .seconds(3)), Fixture.maintenance(at: start + .seconds(3), on: m), "then b's leak report")
        XCTAssertEqual(tick(&m, clock, leakThreshold: nil), Fixture.maintenance(at: start + .seconds(4), on: m))

        var (quiet, _) = machine([], poolSize: 2, idleTimeout: .seconds(10), keepAlive: .seconds(4), clock: clock)
        XCTAssertEqual(tick(&quiet, clock, leakThreshold: .seconds(1)), .none, "nothing idle, nothing out: no timer")
    }

    func testALeakIsReportedOnceWithItsSiteAndAge() {
        let clock = ManualClock()
        let start = clock.now
        var (m, slots) = machine(["a", "b"], clock: clock)
        Fixture.release(slots, to: &m)
        XCTAssertEqual(m.acquire(site: Fixture.site(1)), FakeAction(.use(slots[0])))
        clock.advance(by: .seconds(3))
        XCTAssertEqual(m.acquire(site: Fixture.site(2)), FakeAction(.use(slots[1])))
        clock.advance(by: .seconds(2))

        let action = tick(&m, clock, leakThreshold: .seconds(5))
        XCTAssertEqual(action, FakeAction(.none, Fixture.effects(timer: .maintenance(at: m.timestamper.stamp(of: start + .seconds(8))), leaks: [Fixture.site(1)])))
        XCTAssertEqual(action.effects?.leaks.map(\.age), [.seconds(5)])
        XCTAssertEqual(tick(&m, clock, leakThreshold: .seconds(5)), Fixture.maintenance(at: start + .seconds(8), on: m), "reported once")
        clock.advance(by: .seconds(10))
        XCTAssertEqual(tick(&m, clock, leakThreshold: .seconds(5)), FakeAction(.none, Fixture.effects(leaks: [Fixture.site(2)])))
        XCTAssertEqual(m.release(slots[0]), .none)
        XCTAssertEqual(tick(&m, clock, leakThreshold: .seconds(5)), .none, "a returned connection is no leak")
    }

    func testWhileShuttingDownTheTickOnlyReportsLeaksAndOnceShutDownItFails() {
        let clock = ManualClock()
        var (m, _) = machine(["a", "b"], poolSize: 3, minIdle: 3, clock: clock)
        XCTAssertEqual(m.shutdown(), .none)
        clock.advance(by: .seconds(2))
        XCTAssertEqual(
            tick(&m, clock, leakThreshold: .seconds(1)), FakeAction(.none, Fixture.effects(leaks: [nil, nil])),
            "no top-up while shutting down, but connections still out are reported")
        XCTAssertEqual(m.finishShutdown().next, .none)
        XCTAssertEqual(tick(&m, clock, leakThreshold: .seconds(1)), FakeAction(.fail(.shutDown)), "the maintenance thread stops")
    }

    /// While minIdle is short of connections (an idle record without one counts as missing),
    /// the tick schedules the backoff retry at retryAt.
    func testTheTickSchedulesTheRetryAtWhileMinIdleIsShortOfConnections() {
        let clock = ManualClock()
        let options = PoolOptions(clock: clock, minIdle: 1, connectBackoff: ConnectBackoff(initial: .seconds(1), jitter: 0), overtakeWindow: .zero)
        var (m, slots) = Fixture.machine(["a"], options: options, clock: clock)
        let a = slots[0]
        a.hasConnection = false
        a.needsConnect = true
        Fixture.release([a], to: &m)
        XCTAssertEqual(m.tick(now: clock.now, leakThreshold: nil), FakeAction(.none, Fixture.effects(reconnect: [a])))
        _ = m.connectFinished(.failed(newRecord: false, creatorFailure: Refused()), random: 0)
        Fixture.release([a], to: &m)
        XCTAssertEqual(
            m.tick(now: clock.now, leakThreshold: nil), Fixture.maintenance(at: clock.now + .seconds(1), on: m),
            "minIdle still lacks a connection: the next tick is due at retryAt")
    }
}
