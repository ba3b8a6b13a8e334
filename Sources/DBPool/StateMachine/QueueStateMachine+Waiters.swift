/// The wait queue: who is served next (hand-off, overtaking, the racer), deadlines, connect
/// permits for queued callers, and what a woken or departing waiter does.
extension QueueStateMachine {
    /// Whether a returned record may go back to the idle store rather than to `head`: `head`
    /// is a blocking thread that has waited less than `overtakeWindow`.
    @inlinable
    func mayOvertake(_ head: Waiter<Record>) -> Bool {
        overtakeWindow > 0 && head.isBlocking && timestamper.readPreciseStamp() &- head.enqueuedAt < overtakeWindow
    }

    /// Takes `waiter` out of the queue, if it is there, and forgets it as the racer.
    @inlinable
    mutating func dequeue(_ waiter: Waiter<Record>) -> Bool {
        if racer === waiter { racer = nil }
        timed.remove(waiter)
        return waiters.remove(waiter)
    }

    /// A queued async waiter has a deadline: watch it. Returns `true` if the pool must start its
    /// deadline timer, because none is running.
    @usableFromInline
    mutating func watchDeadline(of waiter: Waiter<Record>) -> Bool {
        timed.append(waiter)
        guard !deadlineTimerRunning else { return false }
        deadlineTimerRunning = true
        return true
    }

    /// The deadline timer fired at `now` (a stamp on the pool's clock): every watched waiter whose
    /// deadline has passed leaves the queue and fails with a timeout, and the waiters its leaving
    /// lets through are woken. The timer runs again for the next deadline, if anyone is watched.
    @usableFromInline
    mutating func expire(now: Int64) -> Action {
        var expired: [Waiter<Record>] = []
        while let head = timed.head, let deadline = head.deadline, deadline <= now {
            _ = dequeue(head)
            recordWait(of: head, timedOut: true)
            expired.append(head)
        }
        let effects = Effects()
        if !expired.isEmpty {
            let woken = settle()
            let failure = WaitFailure.timedOut(snapshot)
            for waiter in expired {
                waiter.failure = failure
                effects.wake.append(wakeup(waiter))
            }
            effects.wake += woken
        }
        if let next = timed.head?.deadline {
            effects.timer = .deadlines(at: next)
        } else {
            deadlineTimerRunning = false
        }
        return Action(.none, effects.orNil)
    }

    @inlinable
    mutating func popHead() -> Waiter<Record>? {
        guard let head = waiters.head else { return nil }
        _ = dequeue(head)
        return head
    }

    /// What the pool needs to wake `waiter`, taken out of it: its continuation (which only the
    /// one who wakes it may resume) or its semaphore.
    @inlinable
    mutating func wakeup(_ waiter: Waiter<Record>) -> Wakeup<Record> {
        switch waiter.kind {
        case let .blocking(semaphore):
            return Wakeup(waiter: waiter, resume: .signal(semaphore), failure: waiter.failure)
        case .async:
            let continuation = waiter.continuation
            waiter.continuation = nil
            return Wakeup(waiter: waiter, resume: .resume(continuation), failure: waiter.failure)
        }
    }

    /// Takes `waiter` out of the queue and grants it `record`, checked out in its name (and
    /// counted as a checkout, undone by ``release(_:afterFailedCheckout:)`` if the checkout
    /// fails). A record that needs a new connection takes a connect permit with it; without one
    /// to be had, nothing happens and this returns `false` (the caller keeps the record idle).
    @inlinable
    mutating func hand(_ record: Record, to waiter: Waiter<Record>) -> Bool {
        let grant: Waiter<Record>.Grant
        if record.needsConnect {
            // While backing off, the retry is the maintenance probe's, never a queued waiter's:
            // a waiter must not receive a connect error early.
            guard !isBackingOff, mayStartConnect(now: timestamper.readStamp) else { return false }
            connecting += 1
            grant = .reconnect(record)
        } else {
            grant = .record(record)
        }
        _ = dequeue(waiter)
        waiter.grant = grant
        record.noteCheckout(site: waiter.site)
        counters.checkouts += 1
        return true
    }

    /// Keeps idle records and queued callers from sitting side by side: while the head may be
    /// overtaken, makes sure a racer is awake; otherwise hands idle records to the queue in order.
    /// Returns the waiters to wake.
    @usableFromInline
    mutating func settle() -> [Wakeup<Record>] {
        var woken: [Wakeup<Record>] = []
        while !idle.isEmpty, let head = waiters.head {
            if mayOvertake(head) {
                if racer == nil {
                    racer = head
                    woken.append(wakeup(head))
                }
                break
            }
            let record = popIdle()!
            guard hand(record, to: head) else {
                unpop(record)
                break
            }
            woken.append(wakeup(head))
        }
        return woken
    }

    /// A blocking waiter woke up, from a signal or its deadline. It uses what it was granted; a
    /// racer takes an idle record if one is left; a waiter past its deadline takes one too rather
    /// than fail, and otherwise leaves the queue and fails. `.wait`: nothing for it yet, it is
    /// still queued.
    @usableFromInline
    mutating func blockingWaiterWoke(_ waiter: Waiter<Record>, timedOut: Bool) -> Action {
        if waiter.grant != nil || waiter.failure != nil || !waiter.isQueued { return claim(waiter) }
        if racer === waiter { racer = nil }
        if let record = popIdle() {
            if hand(record, to: waiter) {
                var action = claim(waiter)
                action.add(Effects.waking(settle()))
                return action
            }
            unpop(record)
        }
        guard timedOut else { return Action(.wait) }
        _ = dequeue(waiter)
        let woken = settle()
        recordWait(of: waiter, timedOut: true)
        return Action(.fail(.timedOut(snapshot)), Effects.waking(woken))
    }

    /// A woken waiter comes for what it was granted (a record, a permit, a record to
    /// reconnect) or for its failure. The wait is counted here, once it is over.
    @inlinable
    mutating func claim(_ waiter: Waiter<Record>) -> Action {
        guard let grant = waiter.grant.take() else {
            // Every wake-up sets one or the other first; `notServed` only guards the impossible.
            return Action(.fail(waiter.failure ?? .notServed))
        }
        recordWait(of: waiter, timedOut: false)
        switch grant {
        case let .record(record): return Action(.use(record))
        case .permit: return Action(.create)
        case let .reconnect(record): return Action(.reconnect(record))
        }
    }

    /// A waiter's task was cancelled. Still queued, it leaves the queue in O(1) and fails (and
    /// the new head hears of idle records it may take); not yet queued, it fails when it comes to
    /// enqueue. Already granted, nothing happens: it uses its grant.
    @usableFromInline
    mutating func cancel(_ waiter: Waiter<Record>) -> Action {
        if dequeue(waiter) {
            recordWait(of: waiter, timedOut: false)
            waiter.failure = .cancelled
            let effects = Effects(wake: [wakeup(waiter)])
            effects.wake += settle()
            return Action(.none, effects)
        }
        if !waiter.wasQueued && waiter.grant == nil && waiter.failure == nil {
            waiter.failure = .cancelled
        }
        return .none
    }

    /// Counts a wait that is over: served, timed out or cancelled. (Checkouts are counted where
    /// a record is granted, or a connect for one succeeds.)
    @inlinable
    mutating func recordWait(of waiter: Waiter<Record>, timedOut: Bool) {
        let waited = Duration.nanoseconds(Swift.max(0, timestamper.readPreciseStamp() &- waiter.startedAt))
        counters.waits += 1
        counters.totalWait += waited
        if waited > counters.maxWait { counters.maxWait = waited }
        if timedOut { counters.timeouts += 1 }
    }

    @inlinable
    mutating func grantPermits(now: () -> Int64) -> [Wakeup<Record>] {
        var woken: [Wakeup<Record>] = []
        // While backing off, queued waiters are not handed the retry: the maintenance thread
        // probes, and a successful probe's connection goes to the head of the queue. So a waiter
        // never receives a connect error early; it waits for a connection or its deadline.
        guard !isBackingOff else { return woken }
        while let head = waiters.head, mayStartConnect(now: now) {
            if hasFreeSlot {
                _ = popHead()
                reserveConnect()
                head.grant = .permit
            } else if let record = popIdle() {
                // Idle records beside queued callers need a new connection (or are left for an
                // overtaking racer): hand one over with the permit.
                guard hand(record, to: head) else {
                    unpop(record)
                    break
                }
            } else {
                break
            }
            woken.append(wakeup(head))
        }
        return woken
    }
}
