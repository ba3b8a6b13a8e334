@testable import DBPool
import DBPoolTesting
import Dispatch

/// A record for QueueStateMachine's own tests: no connection, no pool, just what the machine
/// reads and notes. `needsConnect` and `hasConnection` are set by the test.
final class FakeSlot: PoolSlot, CustomStringConvertible {
    let name: String
    var idleSince: ContinuousClock.Instant?
    var lastPinged: ContinuousClock.Instant?
    var needsConnect = false
    var hasConnection = true
    var checkoutTime: ContinuousClock.Instant?
    var checkoutSite: CheckoutSite?
    var leakReported = false
    /// The clock checkout times are read from, if the test looks at them (leak reports).
    let clock: ManualClock?
    var isOut = false

    init(_ name: String, clock: ManualClock? = nil) {
        self.name = name
        self.clock = clock
    }

    func noteCheckout(site: CheckoutSite?) {
        isOut = true
        checkoutSite = site
        checkoutTime = clock?.now
        leakReported = false
    }

    func noteCheckin() {
        isOut = false
        checkoutSite = nil
        checkoutTime = nil
    }

    var description: String { name }
}

typealias FakeMachine = QueueStateMachine<FakeSlot>
typealias FakeAction = FakeMachine.Action
typealias FakeEffects = FakeMachine.Effects

/// Building machines and reading their actions, for the state-machine tests.
enum MachineFixture {
    /// A machine over `clock` whose records are `names`, all connected and checked out.
    static func machine(
        _ names: [String], poolSize: Int? = nil, maxOverflow: Int = 0, useLIFO: Bool = false,
        options: PoolOptions, clock: ManualClock
    ) -> (FakeMachine, [FakeSlot]) {
        var machine = FakeMachine(
            poolSize: poolSize ?? names.count, maxOverflow: maxOverflow, useLIFO: useLIFO, options: options,
            timestamper: Timestamper(clock: clock))
        let slots = names.map { FakeSlot($0, clock: clock) }
        for slot in slots {
            precondition(machine.prefill() == FakeAction(.create), "the fixture must have room for \(names.count) records")
            _ = machine.connectFinished(.created(slot, checkout: nil), random: 0)
        }
        return (machine, slots)
    }

    static func blocking(site: CheckoutSite? = nil) -> Waiter<FakeSlot> {
        Waiter(kind: .blocking(DispatchSemaphore(value: 0)), site: site)
    }

    static func async(deadline: Int64? = nil) -> Waiter<FakeSlot> {
        Waiter(kind: .async, site: nil, deadline: deadline)
    }

    /// The waiters an action wakes, in order.
    static func woken(_ action: FakeAction) -> [Waiter<FakeSlot>] {
        action.effects?.wake.map(\.waiter) ?? []
    }

    /// The name of the record a waiter was granted, if it was granted one to use.
    static func granted(_ waiter: Waiter<FakeSlot>) -> String? {
        guard case let .record(slot)? = waiter.grant else { return nil }
        return slot.name
    }
}
