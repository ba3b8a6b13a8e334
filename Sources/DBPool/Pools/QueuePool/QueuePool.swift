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
/// Beyond SQLAlchemy (see ``PoolOptions``): `minIdle` pre-fill, `idleTimeout`, `keepAlive`,
/// `connectBackoff` and leak detection, all off by default; `maxConnecting` (2 connects at once)
/// and `overtakeWindow` (1 ms), which SQLAlchemy does not have, on by default; and
/// ``shutdown(gracePeriod:)-(Duration)->Int``. The timed ones run on one background thread per
/// pool, started only when one of them is configured.
public final class QueuePool<Connection>: Pool, RecordPool {
    @usableFromInline typealias Record = ConnectionRecord<Connection>
    @usableFromInline typealias Machine = QueueStateMachine<Record>

    @usableFromInline let context: PoolContext<Connection>
    @usableFromInline let state: Locked<Machine>
    let maintenance: MaintenanceThread?

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
            throw PoolError.invalidArgument(
                "keepAlive (\(keepAlive)) needs a dialect that can ping, and this one cannot (DefaultDialect's doPing throws pingNotSupported); pass a dialect that implements doPing, or leave keepAlive nil"
            )
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
            context: PoolContext(
                creator: .plain(creator), dialect: dialect, events: PoolEvents(), options: options, kind: "QueuePool",
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
            context: PoolContext(
                creator: .withRecord(creator), dialect: dialect, events: PoolEvents(), options: options, kind: "QueuePool",
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
        _ = send { $0.dispose() }
    }

    // MARK: Accessors

    /// Idle connections in the pool. SQLAlchemy's `checkedin()`.
    public var checkedIn: Int { snapshot.idle }
    /// Records in existence that are not idle. SQLAlchemy's `checkedout()`, but never negative.
    public var checkedOut: Int { snapshot.checkedOut }
    /// Records beyond `size` (negative while the pool holds fewer than `size`); always 0 when
    /// `size` is 0. SQLAlchemy's `overflow()`.
    public var overflow: Int { snapshot.overflow }
    /// Checkouts currently waiting for a connection.
    public var waiting: Int { snapshot.waiting }
    /// Whether ``shutdown(gracePeriod:)-(Duration)->Int`` has been called.
    public var isShutDown: Bool { snapshot.phase != .running }

    /// A snapshot of the pool's state and counters; see ``PoolStatistics``.
    public var statistics: PoolStatistics {
        var statistics = PoolStatistics.fromCounters(context.counters)
        let current = snapshot
        statistics.openConnections = current.open
        statistics.idle = current.idle
        statistics.inUse = current.checkedOut
        // The signed SQLAlchemy value stays on `overflow`; a gauge of extra connections that
        // reads -4 on a fresh pool would mislead a dashboard.
        statistics.overflow = Swift.max(0, current.overflow)
        statistics.waiters = current.waiting
        statistics.connecting = current.connecting
        statistics.checkouts = current.counters.checkouts
        statistics.waits = current.counters.waits
        statistics.totalWaitTime = current.counters.totalWait
        statistics.maxWaitTime = current.counters.maxWait
        statistics.timeouts = current.counters.timeouts
        statistics.lastConnectError = current.lastConnectError
        statistics.consecutiveConnectFailures = current.consecutiveFailures
        return statistics
    }

    /// Every connection checked out now, with the file and line that checked it out and how long
    /// it has been held, longest first. Cost O(connections); for diagnostics.
    public func checkedOutConnections() -> [CheckedOutConnection] {
        let now = context.now()
        return state.withLock { $0.checkedOutConnections(now: now) }.sorted { $0.age > $1.age }
    }

    /// `Pool size: 3  Connections in pool: 0 Current Overflow: 3 Current Checked out connections: 6`
    public func status() -> String {
        let current = snapshot
        return Self.status(size: size, checkedIn: current.idle, overflow: current.overflow, checkedOut: current.checkedOut)
    }

    static func status(size: Int, checkedIn: Int, overflow: Int, checkedOut: Int) -> String {
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
        case let .use(idle):
            return try Checkout.run(pool: self, record: idle, site: site)
        case let other:
            return try Checkout.run(pool: self, record: acquireRecord(site: site, after: other), site: site)
        }
    }

    /// The allocation-free first look both checkout forms take: an idle record, a slot to
    /// create in, or the news that they must wait.
    @inlinable
    func firstLook(site: CheckoutSite) -> Machine.Next {
        send { $0.acquire(site: site) }
    }

    /// Checks a connection out, suspending while the pool is at its limit. Driver work (connect,
    /// pre-ping, checkout listeners) runs on the pool's driver threads; an idle connection with
    /// nothing due is handed over where the caller runs, with no thread hop.
    @inlinable
    public func checkout(at site: CheckoutSite) async throws -> ConnectionFairy<Connection> {
        guard let executor = context.driverExecutor else { return try await checkoutInline(at: site) }
        let fairy: ConnectionFairy<Connection>
        switch firstLook(site: site) {
        case let .use(idle):
            if executor.isCurrent || (idle.isReady && !context.needsCheckoutLogic) {
                fairy = try Checkout.run(pool: self, record: idle, site: site)
            } else {
                fairy = try await executor.run { try Checkout.run(pool: self, record: idle, site: site) }
            }
        case .wait where context.driverIsAsync:
            // An async driver's waiter waits where it runs: only the driver work its grant may
            // need (a connect, a ping) goes to the driver threads, and a ready record needs none.
            fairy = try await checkOut(granted: awaitGrant(site: site, after: .wait), site: site, executor: executor)
        case let other:
            fairy = try await withTaskExecutorPreference(executor) {
                try Checkout.run(pool: self, record: await acquireRecordAsync(site: site, after: other), site: site)
            }
        }
        fairy.returnsOnDriverThreads = true
        return fairy
    }

    /// The checkout of what a waiter was granted: where the caller runs if it is a ready
    /// record with nothing due, on the driver threads otherwise. Inlinable, to be specialised
    /// with ``awaitGrant(site:after:)``.
    @inlinable
    func checkOut(granted next: Machine.Next, site: CheckoutSite, executor: DriverExecutor) async throws -> ConnectionFairy<Connection> {
        if case let .use(record) = next, record.isReady && !context.needsCheckoutLogic {
            return try Checkout.run(pool: self, record: record, site: site)
        }
        return try await executor.run {
            guard let record = try resolve(next, site: site) else { throw PoolError.connectionClosed }
            return try Checkout.run(pool: self, record: record, site: site)
        }
    }

    /// The async checkout with ``DriverThreads/inline``: everything where the caller runs.
    @inlinable
    func checkoutInline(at site: CheckoutSite) async throws -> ConnectionFairy<Connection> {
        switch firstLook(site: site) {
        case let .use(idle):
            return try Checkout.run(pool: self, record: idle, site: site)
        case let other:
            return try Checkout.run(pool: self, record: await acquireRecordAsync(site: site, after: other), site: site)
        }
    }

    // MARK: Return

    @inlinable
    func returnRecord(_ record: consuming Record) {
        // Moved into the lock, not copied: the idle store takes it over.
        var moving: Record? = consume record
        let action = state.withLock { $0.release(moving.take().unsafelyUnwrapped) }
        if let effects = action.effects { run(effects) }
    }

    /// The return of a record whose checkout failed after the pool picked it: not a checkout.
    @usableFromInline
    func returnFailedCheckout(_ record: Record) {
        _ = send { $0.release(record, afterFailedCheckout: true) }
    }

    // MARK: Pool-wide operations

    /// Closes every idle connection. Checked-out connections are untouched and are pooled
    /// normally when they return; the counters stay true throughout.
    public func dispose() {
        _ = send { $0.dispose() }
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
            return try! QueuePool(
                poolSize: size, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
                context: PoolContext(
                    creator: recreated.creator, dialect: recreated.dialect,
                    events: recreated.events, options: options, kind: "QueuePool",
                    connectionLimit: recreated.connectionLimit, driverExecutor: .some(recreated.driverExecutor),
                    driverIsAsync: recreated.driverIsAsync))
        }
    }

    /// Pool-wide invalidation; see ``Pool/invalidateAll(triggeredBy:error:)``.
    public func invalidateAll(triggeredBy fairy: ConnectionFairy<Connection>?, error: (any Error)?) {
        context.invalidateAll(triggeredBy: fairy, error: error)
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
        try self.init(
            poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
            options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }

    /// Creates a QueuePool over ``DefaultDialect``, with a creator that receives the record.
    public convenience init(
        poolSize: Int = 5, maxOverflow: Int = 10, timeout: Duration? = .seconds(30), useLIFO: Bool = false,
        options: PoolOptions = PoolOptions(),
        creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection
    ) throws {
        try self.init(
            poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
            options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }
}
