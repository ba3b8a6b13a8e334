import Dispatch

/// What QueuePool does after telling its state machine of an event: every event returns one
/// ``QueueStateMachine/Action``, and the pool carries it out, once the lock is released, in one
/// interpreter (QueuePool+Interpreter.swift).
extension QueueStateMachine {
    /// The answer to one event: what the caller that reported it does next, and everything else
    /// the event set in motion. Equatable, so the machine's tests state exactly what it asked for.
    @usableFromInline
    struct Action: Equatable {
        @usableFromInline
        var next: Next
        /// `nil` when there is nothing else to do, as after the common checkout and return: an
        /// absent reference costs nothing to make or to drop, where a struct of empty arrays
        /// would be copied and destroyed field by field on every checkout.
        @usableFromInline
        var effects: Effects?

        @inlinable
        init(_ next: Next = .none, _ effects: Effects? = nil) {
            self.next = next
            self.effects = effects
        }

        /// Nothing to do.
        @inlinable
        static var none: Action { Action() }

        /// Adds `more` to the effects, keeping them absent while both are empty.
        @inlinable
        mutating func add(_ more: Effects?) {
            guard let more else { return }
            if effects == nil { effects = more } else { effects!.merge(more) }
        }
    }

    /// What the caller that reported the event does itself.
    @usableFromInline
    enum Next: Equatable {
        /// Nothing more.
        case none
        /// Check out this record.
        case use(Record)
        /// A slot was reserved and a connect permit taken: create a record in it, then report
        /// ``ConnectOutcome/created(_:checkout:)`` or ``ConnectOutcome/failed(newRecord:creatorFailure:)``.
        case create
        /// A connect permit was taken for this record, whose connection must be made first (see
        /// ``PoolSlot/needsConnect``): reconnect it, then report the outcome.
        case reconnect(Record)
        /// The caller was queued: sleep or suspend until woken.
        case wait
        /// The checkout fails.
        case fail(WaitFailure)

        @usableFromInline
        static func == (a: Next, b: Next) -> Bool {
            switch (a, b) {
            case (.none, .none), (.create, .create), (.wait, .wait): return true
            case let (.use(x), .use(y)), let (.reconnect(x), .reconnect(y)): return x === y
            case let (.fail(x), .fail(y)): return x == y
            default: return false
            }
        }
    }

    /// Work for the pool beyond the caller's next step. A class, so that an action stays two
    /// words: made fresh for each action that needs one, and not changed once it is returned.
    @usableFromInline
    final class Effects: Equatable {
        /// Waiters whose grant or failure the machine has set: signal or resume them.
        @usableFromInline var wake: [Wakeup<Record>] = []
        /// Records to close (their slots stay counted): close each, then report ``closed(_:)``.
        @usableFromInline var close: [Record] = []
        /// Why the records in `close` are closed.
        @usableFromInline var closeReason = CloseReason.overflow
        /// New connections to open (slots and permits taken) for `minIdle` or a backoff probe:
        /// create each, report it, then release it.
        @usableFromInline var create = 0
        /// Idle records taken out to be reconnected (permits taken): reconnect each, report it,
        /// then release it.
        @usableFromInline var reconnect: [Record] = []
        /// Idle records due a keep-alive ping, out of the idle store: ping each, then report
        /// ``pinged(_:alive:)``.
        @usableFromInline var ping: [Record] = []
        /// A timer to start, or (from ``tick(now:leakThreshold:)``) when the next tick is due.
        @usableFromInline var timer: Timer?
        /// Connections held past the leak threshold, each reported once per checkout: log them.
        @usableFromInline var leaks: [CheckedOutConnection] = []
        /// Connections still out when a shutdown's grace period ended (their checkout sites): log them.
        @usableFromInline var stillCheckedOut: [CheckoutSite?] = []

        @inlinable
        init(wake: [Wakeup<Record>] = []) { self.wake = wake }

        @inlinable
        var isEmpty: Bool {
            wake.isEmpty && close.isEmpty && create == 0 && reconnect.isEmpty && ping.isEmpty && timer == nil
                && leaks.isEmpty && stillCheckedOut.isEmpty
        }

        /// The effects, or `nil` if there are none.
        @inlinable
        var orNil: Effects? { isEmpty ? nil : self }

        /// Whether the effects only wake waiters that were served (a hand-off): no failure to
        /// report, nothing to close, create, reconnect, ping, time or log.
        @inlinable
        var onlyServesWaiters: Bool {
            close.isEmpty && create == 0 && reconnect.isEmpty && ping.isEmpty && timer == nil && leaks.isEmpty
                && stillCheckedOut.isEmpty && wake.allSatisfy { $0.failure == nil }
        }

        /// Effects that only wake `waiters`, or `nil` if there are none.
        @inlinable
        static func waking(_ waiters: [Wakeup<Record>]) -> Effects? {
            waiters.isEmpty ? nil : Effects(wake: waiters)
        }

        @usableFromInline
        func merge(_ other: Effects) {
            wake += other.wake
            if !other.close.isEmpty {
                close += other.close
                closeReason = other.closeReason
            }
            create += other.create
            reconnect += other.reconnect
            ping += other.ping
            timer = other.timer ?? timer
            leaks += other.leaks
            stillCheckedOut += other.stillCheckedOut
        }

        @usableFromInline
        static func == (a: Effects, b: Effects) -> Bool {
            func same(_ x: [Record], _ y: [Record]) -> Bool { x.count == y.count && zip(x, y).allSatisfy { $0 === $1 } }
            return a.wake == b.wake && same(a.close, b.close) && (a.close.isEmpty || a.closeReason == b.closeReason)
                && a.create == b.create && same(a.reconnect, b.reconnect) && same(a.ping, b.ping) && a.timer == b.timer
                && a.leaks.map(\.site) == b.leaks.map(\.site) && a.stillCheckedOut == b.stillCheckedOut
        }
    }

    /// A timer the pool runs for the machine.
    @usableFromInline
    enum Timer: Equatable {
        /// Queued async waiters have deadlines: report ``expire(now:)`` once the pool's clock
        /// reads this stamp.
        case deadlines(at: Int64)
        /// Maintenance has work when the pool's clock reads this stamp (a backoff retry, an idle
        /// timeout, a ping). A stamp, not an instant: `ContinuousClock.Instant` is not a frozen
        /// type, and an action holding one would have its layout computed at run time on every
        /// checkout.
        case maintenance(at: Int64)
    }

    /// The outcome of a connect the machine asked for (``Next/create``, ``Next/reconnect(_:)``,
    /// ``Effects/create``, ``Effects/reconnect``, or a checkout's own reconnect).
    @usableFromInline
    enum ConnectOutcome {
        /// A new record connected. `checkout` is the site of the checkout it serves (counted as
        /// a checkout), `nil` for a pre-fill or maintenance connection.
        case created(Record, checkout: CheckoutSite?)
        /// An existing record's connection was made again.
        case reconnected
        /// The connect failed; `newRecord` gives its slot back. `creatorFailure` is the
        /// creator's own error, which feeds the backoff (a failing connect listener does not: the
        /// database answered).
        case failed(newRecord: Bool, creatorFailure: (any Error)?)
    }
}

/// A waiter to signal or resume, with what it needs taken out of it under the lock: the
/// continuation of a task (which only one party may resume) or the semaphore of a thread.
@usableFromInline
struct Wakeup<Record: AnyObject>: Equatable {
    @usableFromInline
    enum Resume {
        case signal(DispatchSemaphore)
        case resume(UnsafeContinuation<Void, any Error>?)
    }

    @usableFromInline let waiter: Waiter<Record>
    @usableFromInline let resume: Resume
    /// Set when the waiter is failed rather than served.
    @usableFromInline let failure: WaitFailure?

    /// Signals the thread or resumes the task: with `error` for a failed async waiter (a blocked
    /// thread finds its failure when it looks again under the lock).
    @usableFromInline
    func perform(error: @autoclosure () -> any Error) {
        switch resume {
        case let .signal(semaphore):
            semaphore.signal()
        case let .resume(continuation):
            if failure != nil { continuation?.resume(throwing: error()) } else { continuation?.resume() }
        }
    }

    @inlinable
    init(waiter: Waiter<Record>, resume: Resume, failure: WaitFailure?) {
        self.waiter = waiter
        self.resume = resume
        self.failure = failure
    }

    @usableFromInline
    static func == (a: Wakeup, b: Wakeup) -> Bool { a.waiter === b.waiter && a.failure == b.failure }
}
