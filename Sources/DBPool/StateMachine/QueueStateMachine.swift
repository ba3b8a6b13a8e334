/// QueuePool's brain: a value type with no side effects, kept behind the pool's one lock. It takes
/// events (a checkout request, a return, a finished or failed creation, a finished close, a
/// cancelled or timed-out waiter, a maintenance tick, dispose, shutdown) and answers with the
/// work to do once the lock is released (use this record, create a connection, wait, wake these
/// waiters, close these records, ping these records).
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
    enum Acquire {
        /// An idle record: check it out.
        case record(Record)
        /// A slot was reserved and a connect permit taken: create a record in it.
        case create
        /// An idle record whose connection must be made first (see ``PoolSlot/needsConnect``): a
        /// connect permit was taken for it; reconnect it, then report ``reconnectFinished(creatorFailure:random:)``.
        case reconnect(Record)
        /// Nothing can be had now: the waiter (if one was given) has been queued.
        case wait
        /// The pool is shut down.
        case shutDown
    }

    @usableFromInline
    enum Release {
        /// The record went back into the idle store.
        case pooled
        /// The record went to a waiter: wake it.
        case handOff(Waiter<Record>)
        /// The record went back into the idle store while a blocking thread heads the queue:
        /// wake that thread, so it comes to take it (it is still queued).
        case wakeRacer(Waiter<Record>)
        /// The record went to the head, and records left idle went to the waiters after it
        /// (or woke a racer): wake them all.
        case wake([Waiter<Record>])
        /// The record must be closed (the idle store is full, or the pool is shutting down);
        /// call `closed` once it is.
        case close(Record, CloseReason)
    }

    /// Work for the maintenance thread, to run outside the lock.
    @usableFromInline
    struct Maintenance {
        /// Idle records past `idleTimeout`: close them, then call `closed`.
        @usableFromInline
        var expired: [Record] = []
        /// Idle records due a keep-alive ping; they are out of the idle store until `release`d.
        @usableFromInline
        var ping: [Record] = []
        /// Connections to open for `minIdle` or as a backoff probe; slots and permits are already
        /// taken. Each goes to the idle store or to the head waiter.
        @usableFromInline
        var create = 0
        /// Idle records without a usable connection, taken out to be reconnected for `minIdle` or
        /// as a backoff probe (permits taken); report ``reconnectFinished(creatorFailure:random:)``, then
        /// ``release(_:afterFailedCheckout:pinged:)`` each.
        @usableFromInline
        var reconnect: [Record] = []
        /// Waiters granted a connect permit by a backoff retry: wake them.
        @usableFromInline
        var woken: [Waiter<Record>] = []
        /// When maintenance next has something to do, if known.
        @usableFromInline
        var nextDue: ContinuousClock.Instant?
    }

    @usableFromInline
    enum Phase { case running, shuttingDown, shutDown }

    @usableFromInline
    struct Counters {
        @usableFromInline
        var checkouts = 0
        @usableFromInline
        var waits = 0
        @usableFromInline
        var totalWait = Duration.zero
        @usableFromInline
        var maxWait = Duration.zero
        @usableFromInline
        var timeouts = 0
    }

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
    var counters = Counters()
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
        self.overtakeWindow = Timestamper.nanoseconds(options.overtakeWindow)
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

    /// Whether a new record may be connected now: a free slot, and ``mayStartConnect(now:)``.
    @inlinable
    func mayConnect(now: () -> Int64) -> Bool {
        hasFreeSlot && mayStartConnect(now: now)
    }

    /// Whether another connection attempt (a new record's or a reconnect) may start now: within
    /// `maxConnecting`, and, while backing off, one at a time and not before `retryAt`.
    @inlinable
    func mayStartConnect(now: () -> Int64) -> Bool {
        if backoff != nil && consecutiveFailures > 0 {
            guard connecting == 0 else { return false }
            if let retryAt, now() < retryAt { return false }
            return true
        }
        return connecting < maxConnecting
    }

    @inlinable
    mutating func reserveConnect() {
        open += 1
        connecting += 1
    }

    /// Reserves a slot and a connect permit for a connection nobody asked for yet (pre-fill).
    @inlinable
    mutating func reserveConnectSlot() -> Bool {
        guard phase == .running, mayConnect(now: timestamper.nanoseconds) else { return false }
        reserveConnect()
        return true
    }

    /// A checkout request. Without a waiter it never queues (the allocation-free fast path);
    /// the caller retries with a waiter on `.wait`.
    @inlinable
    mutating func acquire(enqueueing waiter: Waiter<Record>?, site: CheckoutSite?) -> Acquire {
        guard phase == .running else { return .shutDown }
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
                    return .record(record)
                }
                if mayStartConnect(now: timestamper.nanoseconds) {
                    connecting += 1
                    counters.checkouts += 1
                    record.noteCheckout(site: site)
                    return .reconnect(record)
                }
                unpop(record)
            }
        }
        if waiters.isEmpty, mayConnect(now: timestamper.nanoseconds) {
            // Counted as a checkout once the connect succeeds (`connectFinished`).
            reserveConnect()
            return .create
        }
        if let waiter {
            if overtakeWindow > 0, waiter.isBlocking { waiter.enqueuedAt = timestamper.preciseNanoseconds() }
            waiter.wasQueued = true
            waiters.append(waiter)
        }
        return .wait
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

    /// A record comes back (after its `checkin` event, or from a keep-alive ping).
    /// `afterFailedCheckout`: the checkout that took it failed (reconnect, pre-ping or a checkout
    /// listener), so it is not counted as one. `pinged`: it comes back from a keep-alive ping,
    /// which is not a use, so its idle time goes on.
    @inlinable
    mutating func release(_ record: consuming Record, afterFailedCheckout: Bool = false, pinged: Bool = false) -> Release {
        record.noteCheckin()
        if afterFailedCheckout { counters.checkouts -= 1 }
        if phase != .running { return .close(record, .shutdown) }
        let roomInIdle = poolSize == 0 || idle.count < poolSize
        if let head = waiters.head {
            // An overflow record that would be closed goes to the head instead: closing it would
            // only make the queue open a new one.
            if roomInIdle && mayOvertake(head) {
                pool(record, restartingIdleTime: !pinged)
                if racer != nil { return .pooled }
                racer = head
                return .wakeRacer(head)
            }
            if hand(record, to: head) {
                // Records pooled for a racer that took longer than the window to come are still
                // idle: they go to the queue in order now, not to whoever arrives next.
                if !idle.isEmpty { return .wake([head] + settle()) }
                return .handOff(head)
            }
        }
        if roomInIdle {
            pool(record, restartingIdleTime: !pinged)
            return .pooled
        }
        return .close(record, .overflow)
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

    /// A new record's connect finished: `record` is it, or `nil` if it failed (its slot is given
    /// back). `creatorFailure` is the creator's own error, which feeds the backoff (a failing
    /// connect listener does not: the database answered). Queued waiters may now be given
    /// connect permits; they are returned to be woken.
    @inlinable
    mutating func connectFinished(_ record: Record?, countsAsCheckout: Bool, site: CheckoutSite?, creatorFailure: (any Error)?, random: Double) -> [Waiter<Record>] {
        connecting -= 1
        if let record {
            records[ObjectIdentifier(record)] = record
            record.noteCheckout(site: site)
            if countsAsCheckout { counters.checkouts += 1 }
        } else {
            open -= 1
        }
        return connectAttempted(failure: creatorFailure, random: random) + grantPermits(now: timestamper.nanoseconds)
    }

    /// An existing record's reconnect finished (a ``Acquire/reconnect(_:)``, a maintenance
    /// reconnect, or one during a checkout's pre-ping), with the creator's error if it failed.
    @usableFromInline
    mutating func reconnectFinished(creatorFailure: (any Error)?, random: Double) -> [Waiter<Record>] {
        connecting -= 1
        return connectAttempted(failure: creatorFailure, random: random) + grantPermits(now: timestamper.nanoseconds)
    }

    /// A reconnect that a checkout must make at once, in the middle of its checkout logic (a
    /// failed pre-ping): it is counted in `connecting` and reported like every connect, but not
    /// held back, since the checkout already holds its record.
    @usableFromInline
    mutating func reconnectStarted() {
        connecting += 1
    }

    /// Takes a connect permit for a reconnect that may wait (a keep-alive replacement), if one
    /// is to be had now.
    @usableFromInline
    mutating func tryStartReconnect() -> Bool {
        guard phase == .running, mayStartConnect(now: timestamper.nanoseconds) else { return false }
        connecting += 1
        return true
    }

    /// The outcome of any connect attempt: a new record's, or an existing record's reconnect.
    /// Failures feed the backoff and `lastConnectError`; a success ends the backoff, after which
    /// queued waiters may be given permits again.
    @usableFromInline
    mutating func connectAttempted(failure: (any Error)?, random: Double) -> [Waiter<Record>] {
        if let failure {
            consecutiveFailures += 1
            lastConnectError = failure
            if let backoff {
                // Saturating: a wrapped sum would put a centuries-long backoff in the past.
                let (sum, overflowed) = timestamper.nanoseconds().addingReportingOverflow(
                    Timestamper.nanoseconds(backoff.delay(afterFailures: consecutiveFailures, random: random)))
                retryAt = overflowed ? .max : sum
            }
            return []
        }
        guard consecutiveFailures > 0 else { return [] }
        consecutiveFailures = 0
        retryAt = nil
        return grantPermits(now: timestamper.nanoseconds)
    }

    /// Records were closed and their slots given up. Queued waiters may now be given permits.
    @inlinable
    mutating func closed(_ closedRecords: [Record]) -> [Waiter<Record>] {
        open -= closedRecords.count
        for record in closedRecords { records[ObjectIdentifier(record)] = nil }
        return grantPermits(now: timestamper.nanoseconds)
    }

    /// Whether a backoff is in force: connects are failing and a policy spaces the retries.
    @inlinable
    var isBackingOff: Bool { backoff != nil && consecutiveFailures > 0 }

    /// Takes every idle record out for `dispose()`. They stay counted in `open` until the caller
    /// has closed them and called `closed`. In the order checkouts would take them, as
    /// SQLAlchemy's `dispose()` gets them from its queue one by one: under LIFO the most recently
    /// returned comes first, so listeners see the same `close` events in the same order.
    @usableFromInline
    mutating func drainIdle() -> [Record] {
        var drained = idle.removeAll()
        if useLIFO { drained.reverse() }
        return drained
    }

    /// Starts a shutdown: no new checkouts; returns the queued waiters (to fail) and the idle
    /// records (to close, then `closed`).
    @usableFromInline
    mutating func beginShutdown() -> (waiters: [Waiter<Record>], idle: [Record]) {
        phase = .shuttingDown
        var failed: [Waiter<Record>] = []
        while let waiter = popHead() {
            waiter.failure = PoolError.shutDown
            failed.append(waiter)
        }
        return (failed, idle.removeAll())
    }

    @usableFromInline
    mutating func finishShutdown() {
        phase = .shutDown
    }

}
