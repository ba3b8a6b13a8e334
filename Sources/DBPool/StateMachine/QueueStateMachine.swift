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
/// What the state machine needs to note on a record while it holds the lock.
@usableFromInline
protocol PoolSlot: AnyObject {
    /// When the record last went idle.
    @inlinable
    var idleSince: ContinuousClock.Instant? { get set }
    /// Notes who holds the record from now on, and since when, for `checkedOutConnections()`
    /// and leak detection. The record stamps the time itself: it knows its pool's clock, and
    /// its cheap stamp is not a `ContinuousClock.Instant` (whose arithmetic is 128-bit).
    @inlinable
    func noteCheckout(site: CheckoutSite?)
    /// Clears what ``noteCheckout(site:)`` noted.
    @inlinable
    func noteCheckin()
}

@usableFromInline
struct QueueStateMachine<Record: PoolSlot> {
    @usableFromInline
    enum Acquire {
        /// An idle record: check it out.
        case record(Record)
        /// A slot was reserved and a connect permit taken: create a record in it.
        case create
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

    /// Whether another connection attempt may start now: within `maxConnecting`, and, while
    /// backing off, one at a time and not before `retryAt`.
    @inlinable
    func mayConnect(now: () -> Int64) -> Bool {
        guard hasFreeSlot else { return false }
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
                counters.checkouts += 1
                record.noteCheckout(site: site)
                return .record(record)
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

    /// The deadline timer woke at `now` (a ``deadlineStamp(_:)``): every watched waiter whose
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

    /// Takes `waiter` out of the queue and grants it `record`, checked out in its name.
    @inlinable
    mutating func hand(_ record: Record, to waiter: Waiter<Record>) {
        _ = dequeue(waiter)
        waiter.grant = .record(record)
        record.noteCheckout(site: waiter.site)
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
            hand(popIdle()!, to: head)
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
            hand(record, to: waiter)
            return (.granted, settle())
        }
        guard timedOut else { return (.keepWaiting, []) }
        _ = dequeue(waiter)
        return (.timedOut, settle())
    }

    /// A waiter that was woken counts as a checkout that waited `waited`.
    /// A woken waiter given a record counts as a checkout now; one given a permit is counted when
    /// its connect succeeds.
    @inlinable
    mutating func recordWait(_ waited: Duration, timedOut: Bool, gotRecord: Bool) {
        counters.waits += 1
        counters.totalWait += waited
        if waited > counters.maxWait { counters.maxWait = waited }
        if timedOut { counters.timeouts += 1 }
        if gotRecord { counters.checkouts += 1 }
    }

    /// A record comes back (after its `checkin` event, or from a keep-alive ping).
    @inlinable
    mutating func release(_ record: consuming Record) -> Release {
        record.noteCheckin()
        if phase != .running { return .close(record, .shutdown) }
        let roomInIdle = poolSize == 0 || idle.count < poolSize
        if let head = waiters.head {
            // An overflow record that would be closed goes to the head instead: closing it would
            // only make the queue open a new one.
            if roomInIdle && mayOvertake(head) {
                pool(record)
                if racer != nil { return .pooled }
                racer = head
                return .wakeRacer(head)
            }
            hand(record, to: head)
            // Records pooled for a racer that took longer than the window to come are still
            // idle: they go to the queue in order now, not to whoever arrives next.
            if !idle.isEmpty { return .wake([head] + settle()) }
            return .handOff(head)
        }
        if roomInIdle {
            pool(record)
            return .pooled
        }
        return .close(record, .overflow)
    }

    @inlinable
    mutating func pool(_ record: consuming Record) {
        if tracksIdleTime { record.idleSince = timestamper.now() }
        idle.pushBack(consume record)
    }

    /// A connection attempt finished. On failure its slot is given back. Either way, queued
    /// waiters may now be given connect permits; they are returned to be woken.
    @inlinable
    mutating func connectFinished(_ record: Record?, countsAsCheckout: Bool, site: CheckoutSite?) -> [Waiter<Record>] {
        connecting -= 1
        if let record {
            records[ObjectIdentifier(record)] = record
            record.noteCheckout(site: site)
            if countsAsCheckout { counters.checkouts += 1 }
        } else {
            open -= 1
        }
        return grantPermits(now: timestamper.nanoseconds)
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
                retryAt = timestamper.nanoseconds() &+ Timestamper.nanoseconds(backoff.delay(afterFailures: consecutiveFailures, random: random))
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

    @inlinable
    mutating func grantPermits(now: () -> Int64) -> [Waiter<Record>] {
        var woken: [Waiter<Record>] = []
        // While backing off, queued waiters are not handed the retry: the maintenance thread
        // probes, and a successful probe's connection goes to the head of the queue. So a waiter
        // never receives a connect error early; it waits for a connection or its deadline.
        guard !isBackingOff else { return woken }
        while !waiters.isEmpty, mayConnect(now: now), let waiter = popHead() {
            reserveConnect()
            waiter.grant = .permit
            woken.append(waiter)
        }
        return woken
    }

    /// A waiter gives up (timeout or cancellation). Returns `true` if it was still queued, `false`
    /// if it had already been granted something, which it must then use.
    @inlinable
    mutating func remove(_ waiter: Waiter<Record>) -> Bool {
        dequeue(waiter)
    }

    /// Takes every idle record out for `dispose()`. They stay counted in `open` until the caller
    /// has closed them and called `closed`.
    @usableFromInline
    mutating func drainIdle() -> [Record] {
        idle.removeAll()
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

    /// The maintenance tick: expire idle records, pick keep-alive pings, top up `minIdle`, and
    /// retry connecting for queued waiters once a backoff has passed. Idle records are ordered by the time they went idle (returns push at the back),
    /// so only the front is ever inspected: the tick costs O(work done), not O(idle records).
    @usableFromInline
    mutating func maintain(now: ContinuousClock.Instant) -> Maintenance {
        var work = Maintenance()
        guard phase == .running else { return work }
        let stamp = timestamper.stamp(of: now)
        let clock = { stamp }
        if let idleTimeout {
            while idle.count > minIdle, let front = idle.peekFront(), let since = front.idleSince, now - since >= idleTimeout {
                work.expired.append(idle.popFront()!)
            }
            if idle.count > minIdle, let front = idle.peekFront(), let since = front.idleSince {
                work.nextDue = earliest(work.nextDue, since + idleTimeout)
            }
        }
        if let keepAlive {
            while let front = idle.peekFront(), let since = front.idleSince, now - since >= keepAlive {
                work.ping.append(idle.popFront()!)
            }
            if let front = idle.peekFront(), let since = front.idleSince {
                work.nextDue = earliest(work.nextDue, since + keepAlive)
            }
        }
        while waiters.isEmpty, idle.count + connecting + work.ping.count < minIdle, mayConnect(now: clock) {
            reserveConnect()
            work.create += 1
        }
        if isBackingOff, !waiters.isEmpty, mayConnect(now: clock) {
            // The backoff has passed: one probe connection, made here, for the queue.
            reserveConnect()
            work.create += 1
        }
        work.woken = grantPermits(now: clock)
        if let retryAt, !waiters.isEmpty || idle.count < minIdle {
            work.nextDue = earliest(work.nextDue, timestamper.instant(fromStamp: retryAt))
        }
        return work
    }

    @usableFromInline
    func earliest(_ a: ContinuousClock.Instant?, _ b: ContinuousClock.Instant) -> ContinuousClock.Instant {
        guard let a else { return b }
        return Swift.min(a, b)
    }
}
