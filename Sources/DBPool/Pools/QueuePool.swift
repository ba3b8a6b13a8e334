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
/// ``shutdown(gracePeriod:)``. The timed ones run on one background thread per pool, started only
/// when one of them is configured.
public final class QueuePool<Connection>: Pool, RecordPool {
    @usableFromInline typealias Record = ConnectionRecord<Connection>
    @usableFromInline typealias Machine = QueueStateMachine<Record>

    @usableFromInline let context: PoolContext<Connection>
    @usableFromInline let state: Locked<Machine>
    private let maintenance: MaintenanceThread?

    /// The number of connections kept idle for reuse (`poolSize`); 0 means no limit.
    public let size: Int
    /// Extra connections allowed beyond `size` (-1 means no limit; forced to -1 when `size` is 0).
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
        guard poolSize >= 0 else {
            throw PoolError.invalidArgument("poolSize must be >= 0 (0 means unlimited); got \(poolSize)")
        }
        guard maxOverflow >= -1 else {
            throw PoolError.invalidArgument("maxOverflow must be >= -1 (-1 means unlimited); got \(maxOverflow)")
        }
        if let timeout, timeout < .zero {
            throw PoolError.invalidArgument("timeout must be nil (wait forever) or a duration >= 0 seconds; got \(timeout)")
        }
        let options = context.options
        try options.validate(queuePool: true)
        if poolSize > 0 && options.minIdle > poolSize {
            throw PoolError.invalidArgument("minIdle must be between 0 and poolSize (\(poolSize)); got \(options.minIdle)")
        }
        self.size = poolSize
        self.maxOverflow = poolSize == 0 ? -1 : maxOverflow
        self.timeout = timeout
        self.useLIFO = useLIFO
        self.context = context
        self.state = Locked(Machine(poolSize: poolSize, maxOverflow: maxOverflow, useLIFO: useLIFO, options: options, timestamper: context.timestamper))
        maintenance = options.needsMaintenance ? MaintenanceThread(clock: options.clock) : nil
        // The observer captures the pool's parts, not the pool: a weak reference to the pool would
        // give it a side table, and every retain of it (one per checkout) would take the slow path.
        context.connectObserver = { [state, maintenance, unowned context] failure in
            Self.connectAttempted(failure: failure, state: state, context: context, maintenance: maintenance)
        }
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
    /// since every fairy holds it). It also drops the connect observer: the observer holds the
    /// state, the state holds idle records, and records hold the context that holds the observer,
    /// so without this the records, and their driver connections, would never be freed.
    deinit {
        maintenance?.stop()
        if case .shared = context.options.driverThreads {} else { context.driverExecutor?.retireIdleThreads() }
        context.connectObserver = nil
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
    /// Whether ``shutdown(gracePeriod:)`` has been called.
    public var isShutDown: Bool { state.withLock { $0.phase != .running } }

    /// A snapshot of the pool's state and counters; see ``PoolStatistics``.
    public var statistics: PoolStatistics {
        var snapshot = PoolStatistics.fromCounters(context.counters)
        state.withLock { machine in
            snapshot.size = machine.open
            snapshot.idle = machine.checkedIn
            snapshot.inUse = machine.checkedOut
            snapshot.overflow = machine.overflow
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
        case .shutDown: throw PoolError.shutDown
        case .wait: break
        }
        // The deadline is taken once, so that every later wake-up measures against it.
        let start = ContinuousClock.now
        let deadline = timeout.map { DispatchTime.now() + DispatchTimeInterval.nanoseconds(Int(clamping: Timestamper.nanoseconds($0))) } ?? .distantFuture
        let semaphore = DispatchSemaphore(value: 0)
        let waiter = Waiter<Record>(kind: .blocking(semaphore), site: site)
        switch state.withLock({ $0.acquire(enqueueing: waiter, site: site) }) {
        case let .record(record): return record
        case .create: return try createRecord(site: site)
        case .shutDown: throw PoolError.shutDown
        case .wait: break
        }
        // Every wake-up, and the deadline, is followed by a look under the lock: the waiter may
        // have been handed a record, woken to take an idle one, or be out of time. A signal that
        // arrives after the look that used it stays in the semaphore, which is then dropped.
        while true {
            let timedOut = semaphore.wait(timeout: deadline) == .timedOut
            let (next, woken, error): (Machine.Woken, [Waiter<Record>], PoolError?) = state.withLock { machine in
                let (next, woken) = machine.blockingWaiterWoke(waiter, timedOut: timedOut)
                guard case .timedOut = next else { return (next, woken, nil) }
                machine.recordWait(ContinuousClock.now - start, timedOut: true, gotRecord: false)
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
        case .shutDown: throw PoolError.shutDown
        case .wait: break
        }
        let start = ContinuousClock.now
        let waiter = Waiter<Record>(kind: .async, site: site)
        if let timeout {
            let (deadline, overflowed) = deadlineStamp(start).addingReportingOverflow(Timestamper.nanoseconds(timeout))
            waiter.deadline = overflowed ? .max : deadline
        }
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
                    case .shutDown:
                        break
                    }
                    return (.success(outcome), startTimer)
                }
                if startTimer, let deadline = waiter.deadline { startDeadlineTimer(firstDeadline: deadline) }
                switch outcome {
                case let .failure(error):
                    continuation.resume(throwing: error)
                case .success(.record), .success(.create):
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
                    try await Task.sleep(until: deadlineOrigin + .nanoseconds(deadline), clock: .continuous)
                } catch {
                    // Nobody cancels this task; if something did, looking now is still correct.
                }
                let now = deadlineStamp(.now)
                let (failed, woken, next, error) = state.withLock { machine in
                    let (expired, woken, next) = machine.expireDeadlines(now: now)
                    var failed: [CheckedContinuation<Void, any Error>] = []
                    for waiter in expired {
                        machine.recordWait(timeout + .nanoseconds(now &- (waiter.deadline ?? now)), timedOut: true, gotRecord: false)
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
    private func abandon(_ waiter: Waiter<Record>, waitingSince start: ContinuousClock.Instant) {
        let (resume, woken): (CheckedContinuation<Void, any Error>?, [Waiter<Record>]) = state.withLock { machine in
            if machine.remove(waiter) {
                machine.recordWait(ContinuousClock.now - start, timedOut: false, gotRecord: false)
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
    private func use(_ waiter: Waiter<Record>, waitingSince start: ContinuousClock.Instant, site: CheckoutSite) throws -> Record {
        if let failure = waiter.failure, waiter.grant == nil { throw failure }
        let grant = waiter.grant!
        var gotRecord = false
        if case .record = grant { gotRecord = true }
        if !waiter.grantedWithoutWaiting {
            let waited = ContinuousClock.now - start
            state.withLock { $0.recordWait(waited, timedOut: false, gotRecord: gotRecord) }
        } else if gotRecord {
            // Served at once on the second look, after the fast path found nothing.
            state.withLock { $0.counters.checkouts += 1 }
        }
        switch grant {
        case let .record(record): return record
        case .permit: return try createRecord(site: site)
        }
    }

    /// Creates a record in a slot the state machine reserved. The creator runs outside the lock;
    /// if it fails, the slot is given back (SQLAlchemy restores `_overflow`) and the creator's
    /// error propagates unwrapped.
    /// A checkout's new record is counted as a checkout once it exists; pre-fill and maintenance
    /// records (`site` nil) are not checkouts.
    private func createRecord(site: CheckoutSite?) throws -> Record {
        let record: Record
        do {
            record = try ConnectionRecord.connected(context: context)
        } catch {
            wake(state.withLock { $0.connectFinished(nil, countsAsCheckout: false, site: site) })
            throw error
        }
        wake(state.withLock { $0.connectFinished(record, countsAsCheckout: site != nil, site: site) })
        return record
    }

    /// Every connect attempt's outcome, from new records and reconnects alike (the context calls
    /// this from `ConnectionRecord`).
    private static func connectAttempted(
        failure: (any Error)?, state: Locked<Machine>, context: PoolContext<Connection>, maintenance: MaintenanceThread?
    ) {
        let random = context.options.connectBackoff == nil ? 0 : Double.random(in: 0..<1)
        for waiter in state.withLock({ $0.connectAttempted(failure: failure, random: random) }) {
            waiter.wake()
        }
        if failure != nil { maintenance?.nudge() }
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

    @usableFromInline
    func finishReturn(_ outcome: Machine.Release) {
        switch outcome {
        case .pooled:
            break
        case let .handOff(waiter), let .wakeRacer(waiter):
            waiter.wake()
        case let .wake(waiters):
            wake(waiters)
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
            return try QueuePool(poolSize: size, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO, context: recreated)
        } catch {
            var options = context.options
            options.failFast = false
            return try! QueuePool(poolSize: size, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
                                  context: PoolContext(creator: recreated.creator, dialect: recreated.dialect,
                                                       events: recreated.events, options: options, kind: "QueuePool",
                                                       connectionLimit: recreated.connectionLimit, driverExecutor: .some(recreated.driverExecutor)))
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

    private func prefill() throws {
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

    private func startMaintenance() {
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
        let leakDue = reportLeaks(now: now)
        switch (work.nextDue, leakDue) {
        case let (a?, b?): return .at(min(a, b))
        case let (a?, nil), let (nil, a?): return .at(a)
        case (nil, nil): return .idle
        }
    }

    private func keepAlive(_ record: Record) {
        if let connection = record.dbapiConnection {
            var failure: (any Error)?
            do {
                if try !context.ping(connection) { failure = DisconnectionError(invalidatePool: false) }
            } catch {
                failure = error
            }
            if let failure {
                context.log(.info, "Keep-alive ping failed; replacing the connection", error: failure)
                record.invalidate(failure)
                _ = try? record.getConnection()
                record.usageCount = 0
            }
        }
        returnRecord(record)
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
