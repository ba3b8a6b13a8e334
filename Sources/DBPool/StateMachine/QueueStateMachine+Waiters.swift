/// The wait queue: who is served next (hand-off, overtaking, the racer), deadlines, connect
/// permits for queued callers, and what a woken or departing waiter does.
extension QueueStateMachine {
    /// Whether a returned record may go back to the idle store rather than to `head`: `head`
    /// is a blocking thread that has waited less than `overtakeWindow`.
    @inlinable
    func mayOvertake(_ head: Waiter<Record>) -> Bool {
        overtakeWindow > 0 && head.isBlocking && timestamper.preciseNanoseconds() &- head.enqueuedAt < overtakeWindow
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

    /// The deadline timer woke at `now` (a stamp on the pool's clock): every watched waiter whose
    /// deadline has passed leaves the queue and is returned, to be failed, with the waiters to
    /// wake because of it. `next` is when to look again; `nil` means nobody is watched any more
    /// and the timer must stop.
    @usableFromInline
    mutating func expireDeadlines(now: Int64) -> (expired: [Waiter<Record>], woken: [Waiter<Record>], next: Int64?) {
        var expired: [Waiter<Record>] = []
        while let head = timed.head, let deadline = head.deadline, deadline <= now {
            _ = dequeue(head)
            expired.append(head)
        }
        let woken = expired.isEmpty ? [] : settle()
        guard let next = timed.head?.deadline else {
            deadlineTimerRunning = false
            return (expired, woken, nil)
        }
        return (expired, woken, next)
    }

    @inlinable
    mutating func popHead() -> Waiter<Record>? {
        guard let head = waiters.head else { return nil }
        _ = dequeue(head)
        return head
    }

    /// Takes `waiter` out of the queue and grants it `record`, checked out in its name (and
    /// counted as a checkout, undone by ``release(_:afterFailedCheckout:pinged:)`` if the checkout
    /// fails). A record that needs a new connection takes a connect permit with it; without one
    /// to be had, nothing happens and this returns `false` (the caller keeps the record idle).
    @inlinable
    mutating func hand(_ record: Record, to waiter: Waiter<Record>) -> Bool {
        let grant: Waiter<Record>.Grant
        if record.needsConnect {
            guard mayStartConnect(now: timestamper.nanoseconds) else { return false }
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
    mutating func settle() -> [Waiter<Record>] {
        var woken: [Waiter<Record>] = []
        while !idle.isEmpty, let head = waiters.head {
            if mayOvertake(head) {
                if racer == nil {
                    racer = head
                    woken.append(head)
                }
                break
            }
            let record = popIdle()!
            guard hand(record, to: head) else {
                unpop(record)
                break
            }
            woken.append(head)
        }
        return woken
    }

    /// What a woken (or timed-out) blocking waiter should do next.
    @usableFromInline
    enum Woken {
        /// It holds a grant or a failure: use it.
        case granted
        /// Nothing for it yet; it is still queued: sleep again.
        case keepWaiting
        /// Its deadline passed and it has left the queue.
        case timedOut
    }

    /// A blocking waiter woke up, from a signal or its deadline. A racer takes an idle record if
    /// one is left (becoming granted); a waiter past its deadline takes one too rather than fail,
    /// and otherwise leaves the queue. The second value lists the waiters to wake in turn.
    @usableFromInline
    mutating func blockingWaiterWoke(_ waiter: Waiter<Record>, timedOut: Bool) -> (Woken, [Waiter<Record>]) {
        if waiter.grant != nil || waiter.failure != nil || !waiter.isQueued { return (.granted, []) }
        if racer === waiter { racer = nil }
        if let record = popIdle() {
            if hand(record, to: waiter) { return (.granted, settle()) }
            unpop(record)
        }
        guard timedOut else { return (.keepWaiting, []) }
        _ = dequeue(waiter)
        return (.timedOut, settle())
    }

    /// A checkout that waited `waited`, then was served or timed out. (Checkouts are counted
    /// where a record is granted, or a connect for one succeeds.)
    @inlinable
    mutating func recordWait(_ waited: Duration, timedOut: Bool) {
        counters.waits += 1
        counters.totalWait += waited
        if waited > counters.maxWait { counters.maxWait = waited }
        if timedOut { counters.timeouts += 1 }
    }

    @inlinable
    mutating func grantPermits(now: () -> Int64) -> [Waiter<Record>] {
        var woken: [Waiter<Record>] = []
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
            woken.append(head)
        }
        return woken
    }

    /// A waiter gives up (timeout or cancellation). Returns `true` if it was still queued, `false`
    /// if it had already been granted something, which it must then use.
    @inlinable
    mutating func remove(_ waiter: Waiter<Record>) -> Bool {
        dequeue(waiter)
    }
}
