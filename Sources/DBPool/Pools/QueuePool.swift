import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The default pool: up to `poolSize` idle connections kept for reuse, plus up to `maxOverflow`
/// extra connections made under load and closed when they come back to a full pool. A checkout
/// at the limit waits up to `timeout` for a connection to come back. SQLAlchemy's `QueuePool`.
///
/// Waiting is fair: blocking threads and async tasks share one FIFO queue, and a returned
/// connection goes to the longest-waiting caller. The one bounded exception: while that caller is
/// a blocking thread that has waited less than ``PoolOptions/overtakeWindow`` (1 ms by default),
/// the connection goes back to the idle store and the thread is woken to take it, so a caller that
/// is already running may take it first; this keeps threads from convoying when they outnumber the
/// cores. With an `overtakeWindow` of zero, a new arrival never overtakes a queued waiter. Async callers
/// suspend without blocking a thread; the driver calls for their checkout (connect, ping,
/// rollback) run on the task's own executor thread, synchronously, as in DB-API.
///
/// Counters: ``checkedOut`` counts every record in existence that is not idle, including ones
/// being created or closed. Unlike SQLAlchemy, ``dispose()`` subtracts exactly the records it
/// closes, so connections that were out during a dispose are still counted when they return and
/// ``checkedOut`` never goes negative.
///
/// Beyond SQLAlchemy (all off by default except `maxConnecting` and `overtakeWindow`, see ``PoolOptions``): `minIdle`
/// pre-fill, `idleTimeout`, `keepAlive`, `maxConnecting`, `connectBackoff`, leak detection and
/// ``shutdown(gracePeriod:)-(Duration)->Int``. The timed ones run on one background thread per pool, started only
/// when one of them is configured.
public final class QueuePool<Connection>: Pool, RecordPool {
    @usableFromInline typealias Record = ConnectionRecord<Connection>
    @usableFromInline typealias Machine = QueueStateMachine<Record>

    @usableFromInline let context: PoolContext<Connection>
    @usableFromInline let state: Locked<Machine>
    private let maintenance: MaintenanceThread?

    /// The number of connections kept idle for reuse (`poolSize`); 0 means no limit. Accepted
    /// 0 to 1,000,000; a larger `poolSize` throws ``PoolError/invalidArgument(_:)``.
    public let size: Int
    /// Extra connections allowed beyond `size` (-1 means no limit; forced to -1 when `size` is 0).
    /// Accepted -1 to 1,000,000.
    public let maxOverflow: Int
    /// How long `connect()` waits at the limit; `nil` waits forever.
    public let timeout: Duration?
    /// Whether the most recently returned connection is reused first.
    public let useLIFO: Bool

    /// The pool's event hooks.
    public var events: PoolEvents<Connection> { context.events }
    /// The options the pool was created with.
    public var options: PoolOptions { context.options }
    /// The threads on which async callers' driver work runs; see ``PoolOptions/driverThreads``.
    public var driverExecutor: DriverExecutor? { context.driverExecutor }

    init(
        poolSize: Int, maxOverflow: Int, timeout: Duration?, useLIFO: Bool,
        context: PoolContext<Connection>
    ) throws {
        // Bounded so that `poolSize + maxOverflow` can never overflow in the free-slot check.
        guard (0...maximumConnectionCount).contains(poolSize) else {
            throw PoolError.invalidArgument("poolSize must be between 0 and \(maximumConnectionCount) (0 means unlimited); got \(poolSize)")
        }
        guard (-1...maximumConnectionCount).contains(maxOverflow) else {
            throw PoolError.invalidArgument("maxOverflow must be between -1 and \(maximumConnectionCount) (-1 means unlimited); got \(maxOverflow)")
        }
        if let timeout, timeout < .zero {
            throw PoolError.invalidArgument("timeout must be nil (wait forever) or a duration >= 0 seconds; got \(timeout)")
        }
        let options = context.options
        try options.validate(queuePool: true)
        if poolSize > 0 && options.minIdle > poolSize {
            throw PoolError.invalidArgument("minIdle must be between 0 and poolSize (\(poolSize)); got \(options.minIdle)")
        }
        // Every unanswered ping would count as a dead connection: healthy ones would be closed
        // and reopened each interval.
        if let keepAlive = options.keepAlive, !context.dialect.supportsPing {
            throw PoolError.invalidArgument("keepAlive (\(keepAlive)) needs a dialect that can ping, and this one cannot (DefaultDialect's doPing throws pingNotSupported); pass a dialect that implements doPing, or leave keepAlive nil")
        }
        self.size = poolSize
        self.maxOverflow = poolSize == 0 ? -1 : maxOverflow
        self.timeout = timeout
        self.useLIFO = useLIFO
        self.context = context
        self.state = Locked(Machine(poolSize: poolSize, maxOverflow: maxOverflow, useLIFO: useLIFO, options: options, timestamper: context.timestamper))
        maintenance = options.needsMaintenance ? MaintenanceThread(clock: options.clock) : nil
        // An async driver's pool fills on its driver threads, from its async initialiser
        // (QueuePool+AsyncDriver.swift): this thread may not wait for the driver.
        guard !context.driverIsAsync else { return }
        try prefill()
        startMaintenance()
    }

    /// Creates a QueuePool over `dialect`, with a creator that takes no argument.
    public convenience init(
        poolSize: Int = 5, maxOverflow: Int = 10, timeout: Duration? = .seconds(30), useLIFO: Bool = false,
        options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable () throws -> Connection
    ) throws {
        try self.init(
            poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
            context: PoolContext(creator: .plain(creator), dialect: dialect, events: PoolEvents(), options: options, kind: "QueuePool",
                                 connectionLimit: Self.connectionLimit(poolSize: poolSize, maxOverflow: maxOverflow)))
    }

    /// Creates a QueuePool over `dialect`, with a creator that receives the record it connects.
    public convenience init(
        poolSize: Int = 5, maxOverflow: Int = 10, timeout: Duration? = .seconds(30), useLIFO: Bool = false,
        options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection
    ) throws {
        try self.init(
            poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
            context: PoolContext(creator: .withRecord(creator), dialect: dialect, events: PoolEvents(), options: options, kind: "QueuePool",
                                 connectionLimit: Self.connectionLimit(poolSize: poolSize, maxOverflow: maxOverflow)))
    }

    /// How many connections a QueuePool of this size may have open at once; `nil` is no limit.
    static func connectionLimit(poolSize: Int, maxOverflow: Int) -> Int? {
        guard poolSize > 0, maxOverflow >= 0 else { return nil }
        let (sum, overflowed) = poolSize.addingReportingOverflow(maxOverflow)
        return overflowed ? nil : sum
    }

    /// A pool that goes away closes its idle connections (checked-out ones keep the pool alive,
    /// since every fairy holds it).
    deinit {
        maintenance?.stop()
        if case .shared = context.options.driverThreads {} else { context.driverExecutor?.retireIdleThreads() }
        for record in state.withLock({ $0.drainIdle() }) {
            record.close(reason: .disposed)
        }
    }

    // MARK: Accessors

    /// Idle connections in the pool. SQLAlchemy's `checkedin()`.
    public var checkedIn: Int { state.withLock { $0.checkedIn } }
    /// Records in existence that are not idle. SQLAlchemy's `checkedout()`, but never negative.
    public var checkedOut: Int { state.withLock { $0.checkedOut } }
    /// Records beyond `size` (negative while the pool holds fewer than `size`); always 0 when
    /// `size` is 0. SQLAlchemy's `overflow()`.
    public var overflow: Int { state.withLock { $0.overflow } }
    /// Checkouts currently waiting for a connection.
    public var waiting: Int { state.withLock { $0.waiting } }
    /// Whether ``shutdown(gracePeriod:)-(Duration)->Int`` has been called.
    public var isShutDown: Bool { state.withLock { $0.phase != .running } }

    /// A snapshot of the pool's state and counters; see ``PoolStatistics``.
    public var statistics: PoolStatistics {
        var snapshot = PoolStatistics.fromCounters(context.counters)
        state.withLock { machine in
            snapshot.size = machine.open
            snapshot.idle = machine.checkedIn
            snapshot.inUse = machine.checkedOut
            // The signed SQLAlchemy value stays on `overflow`; a gauge of extra connections that
            // reads -4 on a fresh pool would mislead a dashboard.
            snapshot.overflow = Swift.max(0, machine.overflow)
            snapshot.waiters = machine.waiting
            snapshot.connecting = machine.connecting
            snapshot.checkouts = machine.counters.checkouts
            snapshot.waits = machine.counters.waits
            snapshot.totalWaitTime = machine.counters.totalWait
            snapshot.maxWaitTime = machine.counters.maxWait
            snapshot.timeouts = machine.counters.timeouts
            snapshot.lastConnectError = machine.lastConnectError
            snapshot.consecutiveConnectFailures = machine.consecutiveFailures
        }
        return snapshot
    }

    /// Every connection checked out now, with the file and line that checked it out and how long
    /// it has been held, longest first. Cost O(connections); for diagnostics.
    public func checkedOutConnections() -> [CheckedOutConnection] {
        let now = context.stamp()
        let held: [CheckedOutConnection] = state.withLock { machine in
            machine.records.values.compactMap { record in
                record.checkoutTime.map { CheckedOutConnection(site: record.checkoutSite, age: now - $0) }
            }
        }
        return held.sorted { $0.age > $1.age }
    }

    /// `Pool size: 3  Connections in pool: 0 Current Overflow: 3 Current Checked out connections: 6`
    public func status() -> String {
        let (checkedIn, overflow, checkedOut) = state.withLock { ($0.checkedIn, $0.overflow, $0.checkedOut) }
        return Self.status(size: size, checkedIn: checkedIn, overflow: overflow, checkedOut: checkedOut)
    }

    private static func status(size: Int, checkedIn: Int, overflow: Int, checkedOut: Int) -> String {
        "Pool size: \(size)  Connections in pool: \(checkedIn) Current Overflow: \(overflow) Current Checked out connections: \(checkedOut)"
    }

    // MARK: Checkout

    /// Checks a connection out, blocking while the pool is at its limit.
    ///
    /// Inlinable, with the state machine and the record and fairy steps it calls, so that the
    /// common checkout (an idle connection, nothing due) is specialised for the caller's
    /// connection type; unspecialised generic code would look up generic type metadata at run
    /// time several times per checkout, which cost more than everything else together.
    @inlinable
    public func checkout(at site: CheckoutSite) throws -> ConnectionFairy<Connection> {
        if context.driverIsAsync { throw PoolError.unsupported(AsyncBridge.blockingAPIMessage) }
        // A switch over the temporary moves the record out of the answer; binding the answer
        // to a name first would cost a retain and a release per checkout.
        switch firstLook(site: site) {
        case let .record(idle):
            return try Checkout.run(pool: self, queuePool: self, record: idle, site: site)
        case let other:
            return try Checkout.run(pool: self, queuePool: self, record: acquireRecord(site: site, after: other), site: site)
        }
    }

    /// The allocation-free first look both checkout forms take: an idle record, a slot to
    /// create in, or the news that they must wait.
    @inlinable
    func firstLook(site: CheckoutSite) -> Machine.Acquire {
        state.withLock { $0.acquire(enqueueing: nil, site: site) }
    }

    /// Checks a connection out, suspending while the pool is at its limit. Driver work (connect,
    /// pre-ping, checkout listeners) runs on the pool's driver threads; an idle connection with
    /// nothing due is handed over where the caller runs, with no thread hop.
    @inlinable
    public func checkout(at site: CheckoutSite) async throws -> ConnectionFairy<Connection> {
        guard let executor = context.driverExecutor else { return try await checkoutInline(at: site) }
        let fairy: ConnectionFairy<Connection>
        switch firstLook(site: site) {
        case let .record(idle):
            if executor.isCurrent || (idle.isReady && !context.needsCheckoutLogic) {
                fairy = try Checkout.run(pool: self, queuePool: self, record: idle, site: site)
            } else {
                fairy = try await executor.run { try Checkout.run(pool: self, queuePool: self, record: idle, site: site) }
            }
        case let other:
            fairy = try await withTaskExecutorPreference(executor) {
                try Checkout.run(pool: self, queuePool: self, record: await acquireRecordAsync(site: site, after: other), site: site)
            }
        }
        fairy.returnsOnDriverThreads = true
        return fairy
    }

    /// The async checkout with ``DriverThreads/inline``: everything where the caller runs.
    @inlinable
    func checkoutInline(at site: CheckoutSite) async throws -> ConnectionFairy<Connection> {
        switch firstLook(site: site) {
        case let .record(idle):
            return try Checkout.run(pool: self, queuePool: self, record: idle, site: site)
        case let other:
            return try Checkout.run(pool: self, queuePool: self, record: await acquireRecordAsync(site: site, after: other), site: site)
        }
    }

    /// Everything but an idle record at the first look: create, wait, or fail.
    @usableFromInline
    func acquireRecord(site: CheckoutSite, after first: Machine.Acquire) throws -> Record {
        switch first {
        case let .record(record): return record
        case .create: return try createRecord(site: site)
        case let .reconnect(record): return try reconnectForCheckout(record)
        case .shutDown: throw PoolError.shutDown
        case .wait: break
        }
        // The deadline is taken once, on the pool's clock, so that every later wake-up measures
        // against it.
        let start = waitStamp()
        let deadline = waitDeadline(from: start)
        let semaphore = DispatchSemaphore(value: 0)
        let waiter = Waiter<Record>(kind: .blocking(semaphore), site: site)
        switch state.withLock({ $0.acquire(enqueueing: waiter, site: site) }) {
        case let .record(record): return record
        case .create: return try createRecord(site: site)
        case let .reconnect(record): return try reconnectForCheckout(record)
        case .shutDown: throw PoolError.shutDown
        case .wait: break
        }
        // Every wake-up, and the deadline, is followed by a look under the lock: the waiter may
        // have been handed a record, woken to take an idle one, or be out of time. A signal that
        // arrives after the look that used it stays in the semaphore, which is then dropped.
        while true {
            let timedOut = semaphore.wait(timeout: realWaitLimit(until: deadline)) == .timedOut && deadline.map { waitStamp() >= $0 } == true
            let (next, woken, error): (Machine.Woken, [Waiter<Record>], PoolError?) = state.withLock { machine in
                let (next, woken) = machine.blockingWaiterWoke(waiter, timedOut: timedOut)
                guard case .timedOut = next else { return (next, woken, nil) }
                machine.recordWait(.nanoseconds(waitStamp() &- start), timedOut: true)
                return (next, woken, timeoutError(machine))
            }
            wake(woken)
            switch next {
            case .granted:
                return try use(waiter, waitingSince: start, site: site)
            case .keepWaiting:
                continue
            case .timedOut:
                logTimeout()
                throw error!
            }
        }
    }

    @usableFromInline
    func acquireRecordAsync(site: CheckoutSite, after first: Machine.Acquire) async throws -> Record {
        switch first {
        case let .record(record): return record
        case .create: return try createRecord(site: site)
        case let .reconnect(record): return try reconnectForCheckout(record)
        case .shutDown: throw PoolError.shutDown
        case .wait: break
        }
        let start = waitStamp()
        let waiter = Waiter<Record>(kind: .async, site: site)
        waiter.deadline = waitDeadline(from: start)
        _ = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (outcome, startTimer): (Result<Machine.Acquire, any Error>, Bool) = state.withLock { machine in
                    // A cancellation that arrived before the waiter was queued.
                    if let failure = waiter.failure { return (.failure(failure), false) }
                    let outcome = machine.acquire(enqueueing: waiter, site: site)
                    var startTimer = false
                    switch outcome {
                    case .wait:
                        waiter.continuation = continuation
                        if waiter.deadline != nil { startTimer = machine.watchDeadline(of: waiter) }
                    case let .record(record):
                        waiter.grant = .record(record)
                        waiter.grantedWithoutWaiting = true
                    case .create:
                        waiter.grant = .permit
                        waiter.grantedWithoutWaiting = true
                    case let .reconnect(record):
                        waiter.grant = .reconnect(record)
                        waiter.grantedWithoutWaiting = true
                    case .shutDown:
                        break
                    }
                    return (.success(outcome), startTimer)
                }
                if startTimer, let deadline = waiter.deadline { startDeadlineTimer(firstDeadline: deadline) }
                switch outcome {
                case let .failure(error):
                    continuation.resume(throwing: error)
                case .success(.record), .success(.create), .success(.reconnect):
                    continuation.resume()
                case .success(.shutDown):
                    continuation.resume(throwing: PoolError.shutDown)
                case .success(.wait):
                    break
                }
            }
        } onCancel: {
            self.abandon(waiter, waitingSince: start)
        }
        return try use(waiter, waitingSince: start, site: site)
    }

    // MARK: Wait time
    //
    // Waits are measured on the pool's clock, as every other time in the pool: as stamps (see
    // Timestamper) read from its fine clock. With the system clock that is real time; with a
    // clock a test moves by hand (DBPoolTesting's ManualClock), waiters poll it every few
    // milliseconds of real time, so advancing it past a deadline times the waiter out without
    // the test waiting for real.

    /// Now, as a wait stamp: a reading of the pool's clock (fine resolution).
    func waitStamp() -> Int64 { context.timestamper.preciseNanoseconds() }

    /// The deadline of a wait that starts at `start`, or `nil` to wait forever: without a
    /// timeout, and for a timeout so long that its deadline would not fit (beyond about 292
    /// years), where a timer would only sleep for ever.
    func waitDeadline(from start: Int64) -> Int64? {
        guard let timeout else { return nil }
        let (deadline, overflowed) = start.addingReportingOverflow(Timestamper.nanoseconds(timeout))
        return overflowed || deadline == .max ? nil : deadline
    }

    /// How long a blocked thread may sleep before it looks at its deadline again.
    func realWaitLimit(until deadline: Int64?) -> DispatchTime {
        guard let deadline else { return .distantFuture }
        let delay = Self.realDelay(until: deadline, context: context)
        return .now() + .nanoseconds(Int(clamping: Timestamper.nanoseconds(delay)))
    }

    /// The real time to sleep before the pool's clock may have reached `deadline` (a stamp): the
    /// time left with the system clock, a short poll with a clock that tests move by hand.
    static func realDelay(until deadline: Int64, context: PoolContext<Connection>) -> Duration {
        let stamper = context.timestamper
        guard stamper.usesSystemClock else {
            return context.options.clock.realDelay(until: stamper.instant(fromStamp: deadline))
        }
        // Fine system-clock stamps are real time: the time left is the difference.
        return .nanoseconds(Swift.max(0, deadline &- stamper.preciseNanoseconds()))
    }

    /// The pool's one timer for async waiters' deadlines (see ``WaiterList``): it sleeps until
    /// the oldest watched waiter's deadline, fails every waiter whose deadline has passed, and
    /// sleeps again until the next, stopping once nobody is watched. A waiter that leaves earlier
    /// only makes it wake for nothing once. It holds the pool's parts, not the pool, so a pool
    /// whose last waiter has gone is freed without waiting for the timer.
    private func startDeadlineTimer(firstDeadline: Int64) {
        let state = self.state, context = self.context, size = self.size, timeout = self.timeout ?? .zero
        Task {
            var deadline = firstDeadline
            while true {
                do {
                    try await Task.sleep(for: Self.realDelay(until: deadline, context: context))
                } catch {
                    // Nobody cancels this task; if something did, looking now is still correct.
                }
                let now = context.timestamper.preciseNanoseconds()
                guard now >= deadline else { continue }
                let (failed, woken, next, error) = state.withLock { machine in
                    let (expired, woken, next) = machine.expireDeadlines(now: now)
                    var failed: [CheckedContinuation<Void, any Error>] = []
                    for waiter in expired {
                        machine.recordWait(timeout + .nanoseconds(now &- (waiter.deadline ?? now)), timedOut: true)
                        if let continuation = waiter.continuation { failed.append(continuation) }
                        waiter.continuation = nil
                    }
                    return (failed, woken, next, Self.timeoutError(machine, size: size, timeout: timeout))
                }
                for waiter in woken { waiter.wake() }
                if !failed.isEmpty { Self.logTimeout(state: state, context: context, size: size) }
                for continuation in failed { continuation.resume(throwing: error) }
                guard let next else { return }
                deadline = next
            }
        }
    }

    /// A waiter's task is cancelled. If it is still queued it leaves the queue in O(1) and its
    /// continuation fails; if it was already granted something, nothing happens and the grant is
    /// delivered as usual.
    private func abandon(_ waiter: Waiter<Record>, waitingSince start: Int64) {
        let (resume, woken): (CheckedContinuation<Void, any Error>?, [Waiter<Record>]) = state.withLock { machine in
            if machine.remove(waiter) {
                machine.recordWait(.nanoseconds(waitStamp() &- start), timedOut: false)
                let continuation = waiter.continuation
                waiter.continuation = nil
                // Leaving the head may leave idle records that the new head should hear of.
                return (continuation, machine.settle())
            }
            if !waiter.wasQueued && waiter.grant == nil && waiter.failure == nil {
                waiter.failure = CancellationError()
            }
            return (nil, [])
        }
        wake(woken)
        resume?.resume(throwing: CancellationError())
    }

    private func timeoutError(_ machine: Machine) -> PoolError {
        Self.timeoutError(machine, size: size, timeout: timeout ?? .zero)
    }

    private static func timeoutError(_ machine: Machine, size: Int, timeout: Duration) -> PoolError {
        let detail = PoolTimeoutDetail(
            checkedOut: machine.checkedOut, idle: machine.checkedIn, waiting: machine.waiting, connecting: machine.connecting,
            lastConnectError: machine.consecutiveFailures > 0 ? machine.lastConnectError : nil)
        return PoolError.timeout(size: size, overflow: machine.overflow, timeout: timeout, detail: detail)
    }

    private func logTimeout() {
        Self.logTimeout(state: state, context: context, size: size)
    }

    /// The timeout error keeps SQLAlchemy's exact text and shape; the reasons behind it (pool
    /// state, queue length, the last connect error, telling "exhausted" from "database down") go
    /// to the log and to ``statistics``.
    private static func logTimeout(state: Locked<Machine>, context: PoolContext<Connection>, size: Int) {
        guard context.logHandler.isEnabled(.warning) else { return }
        let (checkedIn, overflow, checkedOut, waiting, lastError, failing) = state.withLock { machine in
            (machine.checkedIn, machine.overflow, machine.checkedOut, machine.waiting, machine.lastConnectError, machine.consecutiveFailures > 0)
        }
        let cause = failing ? "the database is refusing connections" : "every connection is in use"
        let status = status(size: size, checkedIn: checkedIn, overflow: overflow, checkedOut: checkedOut)
        context.log(.warning, "Checkout timed out: \(cause); \(checkedOut) checked out, \(waiting) still waiting. \(status)", error: failing ? lastError : nil)
    }

    /// Turns what a woken waiter was granted into a record, and counts the wait.
    private func use(_ waiter: Waiter<Record>, waitingSince start: Int64, site: CheckoutSite) throws -> Record {
        if let failure = waiter.failure, waiter.grant == nil { throw failure }
        let grant = waiter.grant!
        // Served at once on the second look, after the fast path found nothing: no wait (and
        // the record was counted as a checkout when it was granted, as every grant is).
        if !waiter.grantedWithoutWaiting {
            let waited = Duration.nanoseconds(waitStamp() &- start)
            state.withLock { $0.recordWait(waited, timedOut: false) }
        }
        switch grant {
        case let .record(record): return record
        case .permit: return try createRecord(site: site)
        case let .reconnect(record): return try reconnectForCheckout(record)
        }
    }

    /// Creates a record in a slot the state machine reserved. The creator runs outside the lock;
    /// if it fails, the slot is given back (SQLAlchemy restores `_overflow`) and the creator's
    /// error propagates unwrapped.
    /// A checkout's new record is counted as a checkout once it exists; pre-fill and maintenance
    /// records (`site` nil) are not checkouts.
    private func createRecord(site: CheckoutSite?) throws -> Record {
        var creatorFailure: (any Error)?
        let record: Record
        do {
            record = try ConnectionRecord.connected(context: context, creatorFailure: &creatorFailure)
        } catch {
            connectFinished(creatorFailure) { $0.connectFinished(nil, countsAsCheckout: false, site: site, creatorFailure: creatorFailure, random: $1) }
            throw error
        }
        connectFinished(nil) { $0.connectFinished(record, countsAsCheckout: site != nil, site: site, creatorFailure: nil, random: $1) }
        return record
    }

    /// Makes the new connection of a record the machine handed out as
    /// `QueueStateMachine.Acquire.reconnect` (recycled, invalidated earlier, or older than a
    /// pool-wide invalidation), with the connect permit it came with. On failure the checkout
    /// fails as a new record's would: with the creator's error, the record back in the pool
    /// without a connection.
    func reconnectForCheckout(_ record: Record) throws -> Record {
        do {
            try record.reconnect()
        } catch {
            let creatorFailure = record.lastCreatorFailure
            connectFinished(creatorFailure) { $0.reconnectFinished(creatorFailure: creatorFailure, random: $1) }
            record.addHolder()
            Checkout.fail(record, pool: self, error: error)
            throw error
        }
        connectFinished(nil) { $0.reconnectFinished(creatorFailure: nil, random: $1) }
        return record
    }

    /// A reconnect in the middle of a checkout (a failed pre-ping, a checkout listener's
    /// disconnect): counted in `connecting` and reported as every connect is, though not held
    /// back, since the checkout already holds its record.
    @usableFromInline
    func reconnectDuringCheckout(_ record: Record) throws -> ConnectionBox<Connection> {
        state.withLock { $0.reconnectStarted() }
        do {
            let box = try record.getConnectionBox()
            connectFinished(nil) { $0.reconnectFinished(creatorFailure: nil, random: $1) }
            return box
        } catch {
            let creatorFailure = record.lastCreatorFailure
            connectFinished(creatorFailure) { $0.reconnectFinished(creatorFailure: creatorFailure, random: $1) }
            throw error
        }
    }

    /// A reconnect the maintenance thread makes (minIdle, a backoff probe, a keep-alive
    /// replacement), with its permit taken. A failure leaves the record without a connection.
    private func reconnectInBackground(_ record: Record) {
        do {
            try record.reconnect()
            connectFinished(nil) { $0.reconnectFinished(creatorFailure: nil, random: $1) }
        } catch {
            let creatorFailure = record.lastCreatorFailure
            connectFinished(creatorFailure) { $0.reconnectFinished(creatorFailure: creatorFailure, random: $1) }
            record.invalidate(error)
        }
    }

    /// Reports a finished connect to the machine (one lock), wakes whoever it says, and nudges
    /// the maintenance thread after a failure, so that a backoff retry is scheduled.
    private func connectFinished(_ creatorFailure: (any Error)?, _ event: (inout Machine, Double) -> [Waiter<Record>]) {
        let random = context.options.connectBackoff == nil ? 0 : Double.random(in: 0..<1)
        wake(state.withLock { event(&$0, random) })
        if creatorFailure != nil { maintenance?.nudge() }
    }

    private func closed(_ records: [Record]) {
        guard !records.isEmpty else { return }
        let woken = state.withLock { $0.closed(records) }
        wake(woken)
    }

    private func wake(_ waiters: [Waiter<Record>]) {
        for waiter in waiters { waiter.wake() }
    }


    // MARK: Return

    @inlinable
    func returnRecord(_ record: consuming Record) {
        // Moved into the lock, not copied: the idle store takes it over.
        var moving: Record? = consume record
        let outcome = state.withLock { $0.release(moving.take().unsafelyUnwrapped) }
        if case .pooled = outcome { return }
        finishReturn(outcome)
    }

    /// The return of a record whose checkout failed after the pool picked it: not a checkout.
    @usableFromInline
    func returnFailedCheckout(_ record: Record) {
        finishReturn(state.withLock { $0.release(record, afterFailedCheckout: true) })
    }

    @usableFromInline
    func finishReturn(_ outcome: Machine.Release) {
        switch outcome {
        case .pooled:
            break
        case let .handOff(waiter), let .wakeRacer(waiter):
            waiter.wake()
        case let .close(record, reason):
            // The slot stays counted until the connection is really closed.
            record.close(reason: reason)
            closed([record])
        }
    }

    // MARK: Pool-wide operations

    /// Closes every idle connection. Checked-out connections are untouched and are pooled
    /// normally when they return; the counters stay true throughout.
    public func dispose() {
        let records = state.withLock { $0.drainIdle() }
        for record in records { record.close(reason: .disposed) }
        closed(records)
        context.log(.info, "Pool disposed. \(status())")
    }

    /// A new, empty QueuePool with the same configuration, creator, dialect and a copy of the
    /// listeners. It does not connect (unless `minIdle` asks it to), and it is running even if
    /// this pool was shut down.
    public func recreate() -> QueuePool<Connection> {
        context.log(.info, "Pool recreating")
        // The configuration was validated when this pool was made. With `minIdle` and
        // `failFast`, a failing pre-fill cannot be reported from here, so the recreated pool
        // starts without failFast and fills in the background.
        let recreated = context.recreated(kind: "QueuePool")
        do {
            let pool = try QueuePool(poolSize: size, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO, context: recreated)
            if recreated.driverIsAsync { pool.startInBackground() }
            return pool
        } catch {
            var options = context.options
            options.failFast = false
            return try! QueuePool(poolSize: size, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
                                  context: PoolContext(creator: recreated.creator, dialect: recreated.dialect,
                                                       events: recreated.events, options: options, kind: "QueuePool",
                                                       connectionLimit: recreated.connectionLimit, driverExecutor: .some(recreated.driverExecutor),
                                                       driverIsAsync: recreated.driverIsAsync))
        }
    }

    /// Pool-wide invalidation; see ``Pool/invalidateAll(triggeredBy:error:)``.
    public func invalidateAll(triggeredBy fairy: ConnectionFairy<Connection>?, error: (any Error)?) {
        context.invalidateAll(triggeredBy: fairy, error: error)
    }

    // MARK: Shutdown

    /// Shuts the pool down gracefully: new checkouts fail at once with ``PoolError/shutDown``,
    /// queued waiters fail with it too, idle connections are closed, and connections still checked
    /// out are closed as they come back. The call waits (blocking this thread) up to
    /// `gracePeriod` for them; it returns the number still out when the grace period ended.
    ///
    /// A connection still out after the grace period is not closed under its holder's feet (a
    /// driver connection is not safe to use from two threads): it is closed when it is returned,
    /// and each one is logged with the file and line that checked it out. The maintenance thread
    /// stops. Afterwards `dispose()` does nothing and `recreate()` returns a new, running pool.
    @discardableResult
    public func shutdown(gracePeriod: Duration = .seconds(30)) -> Int {
        beginShutdown()
        _ = ShutdownGate.waitBlocking(gracePeriod: gracePeriod) { outstanding }
        return finishShutdown()
    }

    /// The async form of ``shutdown(gracePeriod:)-(Duration)->Int``: suspends instead of blocking
    /// while it waits, closes the idle connections on the pool's driver threads, and stops waiting
    /// as soon as the task is cancelled (the pool is shut down all the same, and the connections
    /// still out are counted and logged as after a grace period).
    @discardableResult
    public func shutdown(gracePeriod: Duration = .seconds(30)) async -> Int {
        await runOnDriverThreads { beginShutdown() }
        _ = await ShutdownGate.wait(gracePeriod: gracePeriod) { outstanding }
        return finishShutdown()
    }

    /// Runs driver work of an async caller on the driver threads (inline without them).
    private func runOnDriverThreads(_ work: () -> Void) async {
        guard let executor = context.driverExecutor else { return work() }
        // `run` rethrows only what `work` throws, and `work` cannot throw.
        try? await executor.run(work)
    }

    private var outstanding: Int { state.withLock { $0.open } }

    private func beginShutdown() {
        let (failed, idle) = state.withLock { $0.beginShutdown() }
        wake(failed)
        for record in idle { record.close(reason: .shutdown) }
        closed(idle)
        context.log(.info, "Pool shutting down: \(failed.count) waiters failed, \(idle.count) idle connections closed")
    }

    private func finishShutdown() -> Int {
        let leftover: [Record] = state.withLock { machine in
            machine.finishShutdown()
            return machine.records.values.filter { $0.checkoutSite != nil }
        }
        maintenance?.stop()
        for record in leftover {
            context.log(.warning, "Shutdown grace period ended with a connection still checked out at \(record.checkoutSite?.description ?? "an unknown site"); it will be closed when returned")
        }
        context.log(.info, "Pool shut down. \(status())")
        return leftover.count
    }

    // MARK: Maintenance

    func prefill() throws {
        let minIdle = context.options.minIdle
        guard minIdle > 0 else { return }
        for _ in 0..<minIdle {
            guard state.withLock({ $0.reserveConnectSlot() }) else { break }
            do {
                let record = try createRecord(site: nil)
                returnRecord(record)
            } catch {
                if context.options.failFast {
                    dispose()
                    throw error
                }
                context.log(.error, "Pre-filling the pool failed; the maintenance thread will retry", error: error)
                break
            }
        }
    }

    func startMaintenance() {
        guard let maintenance else { return }
        // The thread's tick holds the pool weakly, so the thread never keeps the pool alive.
        let tick: MaintenanceThread.Tick = { [weak self] in
            guard let self else { return .stop }
            return self.performMaintenance()
        }
        maintenance.start(tick: tick)
    }

    /// One maintenance pass: idle timeout, keep-alive pings, `minIdle` top-up, backoff retries,
    /// leak reports. Runs on the maintenance thread; returns when it next has work.
    func performMaintenance() -> MaintenanceThread.MaintenanceDue {
        let now = context.stamp()
        let (work, phase) = state.withLock { machine in (machine.maintain(now: now), machine.phase) }
        if phase == .shutDown { return .stop }
        wake(work.woken)
        for record in work.expired {
            context.log(.info, "Closing a connection idle for longer than idleTimeout")
            record.close(reason: .idleTimeout)
        }
        closed(work.expired)
        for record in work.ping { keepAlive(record) }
        for _ in 0..<work.create {
            if let record = try? createRecord(site: nil) {
                returnRecord(record)
            }
        }
        for record in work.reconnect {
            reconnectInBackground(record)
            returnRecord(record)
        }
        let leakDue = reportLeaks(now: now)
        switch (work.nextDue, leakDue) {
        case let (a?, b?): return .at(min(a, b))
        case let (a?, nil), let (nil, a?): return .at(a)
        case (nil, nil): return .idle
        }
    }

    private func keepAlive(_ record: Record) {
        var failure: (any Error)?
        if let connection = record.dbapiConnection {
            do {
                if try !context.ping(connection) { failure = DisconnectionError(invalidatePool: false) }
            } catch {
                failure = error
            }
            if let failure {
                context.log(.info, "Keep-alive ping failed; replacing the connection", error: failure)
                record.invalidate(failure)
                // The replacement is a connect like any other: within maxConnecting and the
                // backoff, or else left to the next checkout or minIdle top-up.
                if state.withLock({ $0.tryStartReconnect() }) { reconnectInBackground(record) }
            }
        }
        if failure == nil {
            finishReturn(state.withLock { $0.release(record, pinged: true) })
        } else {
            returnRecord(record)
        }
    }

    /// Logs, once per checkout, each connection held longer than `leakDetectionThreshold`.
    /// Returns when the next report could be due.
    private func reportLeaks(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let threshold = context.options.leakDetectionThreshold else { return nil }
        let (leaks, nextDue): ([(CheckoutSite?, Duration)], ContinuousClock.Instant?) = state.withLock { machine in
            var leaks: [(CheckoutSite?, Duration)] = []
            var nextDue: ContinuousClock.Instant?
            for record in machine.records.values {
                guard let since = record.checkoutTime, !record.leakReported else { continue }
                if now - since >= threshold {
                    record.leakReported = true
                    leaks.append((record.checkoutSite, now - since))
                } else {
                    nextDue = min(nextDue ?? since + threshold, since + threshold)
                }
            }
            return (leaks, nextDue)
        }
        for (site, age) in leaks {
            context.log(.warning, "Possible connection leak: a connection checked out at \(site?.description ?? "an unknown site") has been held for \(age), longer than leakDetectionThreshold (\(threshold))")
        }
        return nextDue
    }
}

extension QueuePool where Connection: DBAPIConnection {
    /// Creates a QueuePool over ``DefaultDialect``, with a creator that takes no argument:
    /// `let pool = try QueuePool { try MyConnection() }`.
    public convenience init(
        poolSize: Int = 5, maxOverflow: Int = 10, timeout: Duration? = .seconds(30), useLIFO: Bool = false,
        options: PoolOptions = PoolOptions(),
        creator: @escaping @Sendable () throws -> Connection
    ) throws {
        try self.init(poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
                      options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }

    /// Creates a QueuePool over ``DefaultDialect``, with a creator that receives the record.
    public convenience init(
        poolSize: Int = 5, maxOverflow: Int = 10, timeout: Duration? = .seconds(30), useLIFO: Bool = false,
        options: PoolOptions = PoolOptions(),
        creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection
    ) throws {
        try self.init(poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
                      options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }
}
