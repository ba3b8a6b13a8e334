/// QueuePool's brain: a value type kept behind the pool's one lock. It takes events (acquire,
/// release, a finished connect, closed records, expired deadlines, a cancelled waiter, the
/// maintenance tick, dispose and shutdown) and answers each with one ``Action``: what the caller
/// does next (use this record, create or reconnect one, wait, fail) and what else to do once the
/// lock is released (wake or fail these waiters, close, connect or ping these records, start this
/// timer). It performs no side effect itself: it reads the pool's clock, and it writes only its
/// own state and the waiters' grants, which no one else writes. The pool reads its state only
/// through ``snapshot``.
///
/// Accounting: `open` counts records in existence, including ones being created and ones being
/// closed, so no more than `poolSize + maxOverflow` driver connections exist at any instant.
/// SQLAlchemy's `_overflow` is `open - poolSize`. Unlike SQLAlchemy, `dispose()` subtracts only
/// the records it closes, instead of resetting the counter, so records that were checked out
/// during a dispose are still counted and `checkedOut` can never go negative.
///
/// Fairness: blocking and async waiters share one FIFO queue. A freed slot and a connect permit
/// always go to its head. A returned record goes to the head directly, except while the head is a
/// blocking thread that has waited less than `overtakeWindow`: then the record goes back to the
/// idle store and the head is woken (one at a time: the "racer") to come and take it, and a caller
/// that is already running may take it first. Handing every record to a sleeping thread would make
/// every checkout wait for a context switch once a queue forms (a convoy). Once the head has
/// waited `overtakeWindow`, records go to the queue in order again, so nobody starves: arrivals no
/// longer take idle records, and records left idle for a racer that came too late go to the queue
/// with the next return. With an
/// `overtakeWindow` of zero, a new arrival is served at once only when nobody is queued.
///
/// Connection creation: at most `maxConnecting` at once. With a backoff policy, after a failure
/// only one attempt runs at a time and not before `retryAt`; the first success clears it.
@usableFromInline
struct QueueStateMachine<Record: PoolSlot> {
    @usableFromInline
    typealias Phase = PoolPhase

    @usableFromInline
    let poolSize: Int
    @usableFromInline
    let maxOverflow: Int
    @usableFromInline
    let useLIFO: Bool
    @usableFromInline
    let maxConnecting: Int
    @usableFromInline
    let minIdle: Int
    @usableFromInline
    let backoff: ConnectBackoff?
    @usableFromInline
    let idleTimeout: Duration?
    @usableFromInline
    let keepAlive: Duration?
    /// Whether `release` must stamp `idleSince` (a clock read, so only when something uses it).
    @usableFromInline
    let tracksIdleTime: Bool
    /// ``PoolOptions/overtakeWindow`` in nanoseconds; 0 is strict FIFO.
    @usableFromInline
    let overtakeWindow: Int64

    @usableFromInline
    var idle: RingBuffer<Record>
    @usableFromInline
    var open = 0
    @usableFromInline
    var connecting = 0
    @usableFromInline
    var waiters = WaiterList<Record>(.queue)
    /// The queued blocking waiter that was woken to take an idle record and has not looked yet.
    /// At most one at a time, so a burst of returns wakes one thread, not one per return.
    @usableFromInline
    var racer: Waiter<Record>?
    /// The queued async waiters with a deadline, in deadline order, and whether the pool's one
    /// deadline timer is running for them.
    @usableFromInline
    var timed = WaiterList<Record>(.deadlines)
    @usableFromInline
    var deadlineTimerRunning = false
    @usableFromInline
    var phase = Phase.running
    @usableFromInline
    var consecutiveFailures = 0
    @usableFromInline
    var lastConnectError: (any Error)?
    @usableFromInline
    var counters = QueueCounters()
    /// Every record in existence that the pool knows by identity, for diagnostics.
    @usableFromInline
    var records: [ObjectIdentifier: Record] = [:]
    /// When the next connect may start while backing off, as a ``Timestamper`` stamp (a stored
    /// `ContinuousClock.Instant` would make every field's offset a run-time lookup).
    @usableFromInline
    var retryAt: Int64?
    @usableFromInline
    let timestamper: Timestamper

    @inlinable
    init(poolSize: Int, maxOverflow: Int, useLIFO: Bool, options: PoolOptions, timestamper: Timestamper) {
        self.poolSize = poolSize
        // SQLAlchemy 2.0: pool_size 0 means no limit at all.
        self.maxOverflow = poolSize == 0 ? -1 : maxOverflow
        self.useLIFO = useLIFO
        self.maxConnecting = options.maxConnecting
        self.minIdle = options.minIdle
        self.backoff = options.connectBackoff
        self.idleTimeout = options.idleTimeout
        self.keepAlive = options.keepAlive
        self.tracksIdleTime = options.idleTimeout != nil || options.keepAlive != nil
        self.overtakeWindow = Timestamper.nanoseconds(in: options.overtakeWindow)
        self.idle = RingBuffer(initialCapacity: Swift.max(1, Swift.min(poolSize, 1024)))
        self.timestamper = timestamper
    }

    @inlinable
    var checkedIn: Int { idle.count }
    @inlinable
    var checkedOut: Int { open - idle.count }
    @inlinable
    var overflow: Int { poolSize > 0 ? open - poolSize : 0 }
    @inlinable
    var waiting: Int { waiters.count }
    @inlinable
    var hasFreeSlot: Bool { maxOverflow < 0 || open < poolSize + maxOverflow }

    /// The pool's state and counters now.
    @inlinable
    var snapshot: QueueSnapshot {
        QueueSnapshot(
            poolSize: poolSize, open: open, idle: idle.count, connecting: connecting, waiting: waiters.count,
            phase: phase, counters: counters, consecutiveFailures: consecutiveFailures, lastConnectError: lastConnectError)
    }

    /// Every connection checked out now, with where and how long ago (`now` on the pool's clock).
    @usableFromInline
    func checkedOutConnections(now: ContinuousClock.Instant) -> [CheckedOutConnection] {
        records.values.compactMap { record in
            record.checkoutTime.map { CheckedOutConnection(site: record.checkoutSite, age: now - $0) }
        }
    }

    // MARK: Checkout

    /// The first look of a checkout: an idle record, a slot to create in, or `.wait`, in which
    /// case the caller looks again with a waiter. It never queues, so it never allocates.
    @inlinable
    mutating func acquire(site: CheckoutSite?) -> Action {
        Action(take(site: site) ?? .wait)
    }

    /// The second look of a checkout, with a waiter to queue if nothing can be had now. An async
    /// waiter comes with its continuation, kept until the machine wakes it; a cancellation that
    /// arrived before it was queued fails it here.
    @inlinable
    mutating func acquire(enqueueing waiter: Waiter<Record>, continuation: UnsafeContinuation<Void, any Error>? = nil) -> Action {
        if let failure = waiter.failure { return Action(.fail(failure)) }
        if let next = take(site: waiter.site) { return Action(next) }
        if overtakeWindow > 0, waiter.isBlocking { waiter.enqueuedAt = timestamper.readPreciseStamp() }
        waiter.wasQueued = true
        waiter.continuation = continuation
        waiters.append(waiter)
        if waiter.deadline != nil, watchDeadline(of: waiter), let deadline = waiter.deadline {
            let effects = Effects()
            effects.timer = .deadlines(at: deadline)
            return Action(.wait, effects)
        }
        return Action(.wait)
    }

    /// What a checkout may have now without queueing: an idle record (to use, or to reconnect
    /// with a permit), or a new slot; `nil` if it must wait.
    @inlinable
    mutating func take(site: CheckoutSite?) -> Next? {
        guard phase == .running else { return .fail(.shutDown) }
        // Idle records while callers are queued exist only under overtaking, where taking one
        // is allowed while the head may still be overtaken (the racer that was woken for it
        // simply finds one fewer), and never once the head has waited `overtakeWindow`.
        if !idle.isEmpty {
            var mayTake = true
            if let head = waiters.head { mayTake = mayOvertake(head) }
            if mayTake, let record = popIdle() {
                if !record.needsConnect {
                    counters.checkouts += 1
                    record.noteCheckout(site: site)
                    return .use(record)
                }
                if mayStartConnect(now: timestamper.readStamp) {
                    connecting += 1
                    counters.checkouts += 1
                    record.noteCheckout(site: site)
                    return .reconnect(record)
                }
                unpop(record)
            }
        }
        if waiters.isEmpty, mayConnect(now: timestamper.readStamp) {
            // Counted as a checkout once the connect succeeds (`connectFinished`).
            reserveConnect()
            return .create
        }
        return nil
    }

    @inlinable
    mutating func popIdle() -> Record? {
        useLIFO ? idle.popBack() : idle.popFront()
    }

    /// Puts back a record just taken with ``popIdle()``, where it was.
    @usableFromInline
    mutating func unpop(_ record: Record) {
        if useLIFO { idle.pushBack(record) } else { idle.pushFront(record) }
    }

    // MARK: Return

    /// A record comes back, after its `checkin` event. `afterFailedCheckout`: the checkout that
    /// took it failed (reconnect, pre-ping or a checkout listener), so it is not counted as one.
    @inlinable
    mutating func release(_ record: consuming Record, afterFailedCheckout: Bool = false) -> Action {
        if afterFailedCheckout { counters.checkouts -= 1 }
        return putBack(record, restartingIdleTime: true)
    }

    /// A record comes back from a keep-alive ping. A live one is not a use, so its idle time
    /// goes on. A dead one (already invalidated) is reconnected at once if a connect may start
    /// now; otherwise it goes back without a connection, for the next checkout or top-up.
    @usableFromInline
    mutating func pinged(_ record: Record, alive: Bool) -> Action {
        if !alive, phase == .running, mayStartConnect(now: timestamper.readStamp) {
            connecting += 1
            let effects = Effects()
            effects.reconnect = [record]
            return Action(.none, effects)
        }
        return putBack(record, restartingIdleTime: !alive)
    }

    /// Where a returned record goes: to a waiter, to the idle store, or to be closed.
    @inlinable
    mutating func putBack(_ record: consuming Record, restartingIdleTime: Bool) -> Action {
        record.noteCheckin()
        if phase != .running { return closing([record], .shutdown) }
        let roomInIdle = poolSize == 0 || idle.count < poolSize
        if let head = waiters.head {
            // An overflow record that would be closed goes to the head instead: closing it would
            // only make the queue open a new one.
            if roomInIdle && mayOvertake(head) {
                pool(record, restartingIdleTime: restartingIdleTime)
                if racer != nil { return .none }
                racer = head
                return Action(.none, Effects(wake: [wakeup(head)]))
            }
            if hand(record, to: head) {
                // Records pooled for a racer that took longer than the window to come are still
                // idle: they go to the queue in order now, not to whoever arrives next.
                var woken = [wakeup(head)]
                if !idle.isEmpty { woken += settle() }
                return Action(.none, Effects(wake: woken))
            }
        }
        if roomInIdle {
            pool(record, restartingIdleTime: restartingIdleTime)
            return .none
        }
        return closing([record], .overflow)
    }

    @inlinable
    mutating func pool(_ record: consuming Record, restartingIdleTime: Bool = true) {
        if tracksIdleTime {
            let now = timestamper.now()
            if restartingIdleTime || record.idleSince == nil { record.idleSince = now }
            record.lastPinged = now
        }
        idle.pushBack(consume record)
    }

    /// An action that closes `records` for `reason`.
    @usableFromInline
    func closing(_ records: [Record], _ reason: CloseReason) -> Action {
        guard !records.isEmpty else { return .none }
        let effects = Effects()
        effects.close = records
        effects.closeReason = reason
        return Action(.none, effects)
    }

    // MARK: Dispose and shutdown

    /// `dispose()`: every idle record is taken out to be closed. They stay counted in `open`
    /// until reported ``closed(_:)``. In the order checkouts would take them, as SQLAlchemy's
    /// `dispose()` gets them from its queue one by one: under LIFO the most recently returned
    /// comes first, so listeners see the same `close` events in the same order.
    @usableFromInline
    mutating func dispose() -> Action {
        var drained = idle.removeAll()
        if useLIFO { drained.reverse() }
        return closing(drained, .disposed)
    }

    /// Starts a shutdown: no new checkouts, the queued waiters fail, the idle records close.
    @usableFromInline
    mutating func shutdown() -> Action {
        phase = .shuttingDown
        let effects = closing(idle.removeAll(), .shutdown).effects ?? Effects()
        while let waiter = popHead() {
            waiter.failure = .shutDown
            effects.wake.append(wakeup(waiter))
        }
        return Action(.none, effects.orNil)
    }

    /// Ends a shutdown once its grace period is over: reports the connections still out, which
    /// are closed as they come back.
    @usableFromInline
    mutating func finishShutdown() -> Action {
        phase = .shutDown
        let effects = Effects()
        effects.stillCheckedOut = records.values.filter { $0.checkoutSite != nil }.map(\.checkoutSite)
        return Action(.none, effects.orNil)
    }
}
