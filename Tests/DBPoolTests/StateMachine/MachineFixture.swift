@testable import DBPool
import DBPoolTesting
import Dispatch
import XCTest

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

/// Stating expected actions and setting machines up, for the state-machine tests.
extension MachineFixture {
    /// Effects with exactly these parts, every other part empty. Leaks compare by site.
    static func effects(
        wake: [Wakeup<FakeSlot>] = [], close: [FakeSlot] = [], reason: CloseReason = .overflow, create: Int = 0,
        reconnect: [FakeSlot] = [], ping: [FakeSlot] = [], timer: FakeMachine.Timer? = nil, leaks: [CheckoutSite?] = [],
        stillCheckedOut: [CheckoutSite?] = []
    ) -> FakeEffects {
        let effects = FakeEffects(wake: wake)
        effects.close = close
        effects.closeReason = reason
        effects.create = create
        effects.reconnect = reconnect
        effects.ping = ping
        effects.timer = timer
        effects.leaks = leaks.map { CheckedOutConnection(site: $0, age: .zero) }
        effects.stillCheckedOut = stillCheckedOut
        return effects
    }

    /// The wake-ups of `waiters`, in order, served (`failure` nil) or failed with `failure`.
    static func wakeups(_ waiters: [Waiter<FakeSlot>], failure: WaitFailure? = nil) -> [Wakeup<FakeSlot>] {
        waiters.map { Wakeup(waiter: $0, resume: .resume(nil), failure: failure) }
    }

    /// The action that only wakes `waiters`, served.
    static func waking(_ waiters: Waiter<FakeSlot>...) -> FakeAction {
        FakeAction(.none, effects(wake: wakeups(waiters)))
    }

    /// The action that only closes `records` for `reason`.
    static func closing(_ records: [FakeSlot], _ reason: CloseReason) -> FakeAction {
        FakeAction(.none, effects(close: records, reason: reason))
    }

    /// The action that only asks `machine` for maintenance at `instant`.
    static func maintenance(at instant: ContinuousClock.Instant, on machine: FakeMachine) -> FakeAction {
        FakeAction(.none, effects(timer: .maintenance(at: machine.timestamper.stamp(of: instant))))
    }

    /// Reports a connect that failed with the creator's `error`, checks that the action asks for
    /// maintenance, and returns the action without that timer. Its instant is not compared: the
    /// pool only nudges maintenance with it, and the tick works out when the retry is due (see
    /// MachineMaintenanceTests); when the next connect may start shows `retryAt` itself.
    static func connectFailed(
        _ machine: inout FakeMachine, _ error: any Error, random: Double = 0, newRecord: Bool = true, file: StaticString = #filePath,
        line: UInt = #line
    ) -> FakeAction {
        var action = machine.connectFinished(.failed(newRecord: newRecord, creatorFailure: error), random: random)
        guard case .maintenance? = action.effects?.timer else {
            XCTFail("a creator failure must ask for maintenance", file: file, line: line)
            return action
        }
        action.effects?.timer = nil
        if action.effects?.isEmpty == true { action.effects = nil }
        return action
    }

    /// Whether `waiter` was granted a connect permit (to create a record in a freed slot).
    static func hasPermit(_ waiter: Waiter<FakeSlot>) -> Bool {
        if case .permit? = waiter.grant { return true }
        return false
    }

    /// A checkout site told apart by its line.
    static func site(_ line: UInt) -> CheckoutSite {
        CheckoutSite(fileID: #fileID, line: line)
    }

    /// Returns `records` in this order, each going to the idle store.
    static func release(_ records: [FakeSlot], to machine: inout FakeMachine, file: StaticString = #filePath, line: UInt = #line) {
        for record in records {
            XCTAssertEqual(machine.release(record), .none, "\(record) must go to the idle store", file: file, line: line)
        }
    }
}
