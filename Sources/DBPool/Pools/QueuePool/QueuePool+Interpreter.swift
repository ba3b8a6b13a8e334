/// The one way through QueuePool: every entry point tells the state machine of an event under the
/// lock (``send(_:)``), gets one action back, and carries it out here, after the lock is released.
/// Nothing below calls back up into the machine except by sending the next event (a connect's
/// outcome, closed records, a ping's result), whose action runs through the same interpreter.
extension QueuePool {
    /// Sends one event to the machine and carries out its effects; returns the caller's next step.
    @inlinable
    func send(_ event: (inout Machine) -> Machine.Action) -> Machine.Next {
        let action = state.withLock(event)
        if let effects = action.effects { run(effects) }
        return action.next
    }

    /// The pool's state and counters now, as the machine reports them.
    var snapshot: QueueSnapshot { state.withLock { $0.snapshot } }

    /// Carries out an action's effects. Closing records and connecting report back to the
    /// machine, and the effects of those reports run here in turn.
    ///
    /// The commonest effect, a hand-off (waiters to wake with what they were granted, and
    /// nothing else), is carried out here, specialised for the connection type with the event
    /// that caused it; everything else in ``runInFull(_:)``.
    @inlinable
    func run(_ effects: Machine.Effects) {
        guard effects.onlyServesWaiters else { return runInFull(effects) }
        for wakeup in effects.wake { wakeup.perform(error: PoolError.connectionClosed) }
    }

    /// ``run(_:)`` for any effects.
    @usableFromInline
    func runInFull(_ effects: Machine.Effects) {
        var timedOut: QueueSnapshot?
        for wakeup in effects.wake {
            if case let .timedOut(snapshot)? = wakeup.failure { timedOut = snapshot }
            wakeup.perform(error: wakeup.failure?.error(timeout: timeout) ?? PoolError.connectionClosed)
        }
        if let timedOut { logTimeout(timedOut) }
        if !effects.close.isEmpty {
            for record in effects.close {
                if effects.closeReason == .idleTimeout { context.log(.info, "Closing a connection idle for longer than idleTimeout") }
                record.close(reason: effects.closeReason)
            }
            // The slots stayed counted until the connections were really closed.
            _ = send { $0.closed(effects.close) }
        }
        switch effects.timer {
        case let .deadlines(at)?: startDeadlineTimer(firstDeadline: at)
        case .maintenance?: maintenance?.nudge()
        case nil: break
        }
        for leak in effects.leaks {
            context.log(
                .warning,
                "Possible connection leak: a connection checked out at \(leak.site?.description ?? "an unknown site") has been held for \(leak.age), longer than leakDetectionThreshold (\(context.options.leakDetectionThreshold ?? .zero))"
            )
        }
        for site in effects.stillCheckedOut {
            context.log(
                .warning,
                "Shutdown grace period ended with a connection still checked out at \(site?.description ?? "an unknown site"); it will be closed when returned")
        }
        for record in effects.ping { keepAlive(record) }
        for _ in 0..<effects.create {
            // A failure was reported to the machine (backoff, lastConnectError) and is retried
            // by maintenance.
            if let record = try? createRecord(site: nil) { returnRecord(record) }
        }
        for record in effects.reconnect {
            reconnectInBackground(record)
            returnRecord(record)
        }
    }

    /// The record a checkout's next step leads to: the one to use, a new one, or a reconnected
    /// one; `nil` when it must wait. A failure is thrown (a timeout is logged first).
    @usableFromInline
    func resolve(_ next: Machine.Next, site: CheckoutSite) throws -> Record? {
        switch next {
        case let .use(record): return record
        case .create: return try createRecord(site: site)
        case let .reconnect(record): return try reconnectForCheckout(record)
        case .wait, .none: return nil
        case let .fail(failure):
            if case let .timedOut(snapshot) = failure { logTimeout(snapshot) }
            throw failure.error(timeout: timeout)
        }
    }

    /// The timeout error keeps SQLAlchemy's exact text and shape, with the pool's state as its
    /// detail; the reasons behind it (telling "exhausted" from "database down") go to the log too.
    func logTimeout(_ snapshot: QueueSnapshot) {
        guard context.logHandler.isEnabled(.warning) else { return }
        let failing = snapshot.consecutiveFailures > 0
        let cause = failing ? "the database is refusing connections" : "every connection is in use"
        let status = Self.status(size: size, checkedIn: snapshot.idle, overflow: snapshot.overflow, checkedOut: snapshot.checkedOut)
        context.log(
            .warning, "Checkout timed out: \(cause); \(snapshot.checkedOut) checked out, \(snapshot.waiting) still waiting. \(status)",
            error: failing ? snapshot.lastConnectError : nil)
    }
}
