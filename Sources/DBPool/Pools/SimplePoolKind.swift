/// What the pool kinds without a state machine (NullPool, StaticPool, SingletonThreadPool,
/// AssertionPool) share: the public members that only read the context (events, options,
/// executors, statistics, status, pool-wide invalidation), the checkout entry points, shutdown,
/// and the context their initialisers build. None of them ever waits for a connection, so their
/// async checkout is the blocking one, run on the pool's driver threads.
///
/// The public members below are protocol-extension defaults: each kind still shows them as its
/// own (they satisfy ``Pool``'s requirements), and a kind that differs declares its own member,
/// which wins (SingletonThreadPool's `status()` and async checkout).
protocol SimplePoolKind: Pool, RecordPool where RecordConnection == Connection {
    /// The kind's name: its `status()` (SingletonThreadPool has its own) and its default logging name.
    static var kindName: String { get }
    /// How many connections the kind may have open at once, which sizes its default driver
    /// threads; `nil` (the default) is no limit.
    static var connectionLimit: Int? { get }
    /// Checked-out connections the pool is still responsible for (for shutdown's grace period).
    var outstandingCheckouts: Int { get }
    /// Closes what the pool holds idle: shutdown's first step.
    func closeIdleForShutdown()
    /// The blocking checkout, with the kind's own rules.
    func checkoutBlocking(at site: CheckoutSite) throws -> ConnectionFairy<Connection>
    /// The connections the pool holds open and how many of them are checked out, read together
    /// (under the pool's lock), for ``statistics``.
    var heldConnections: (open: Int, inUse: Int) { get }
}

extension SimplePoolKind {
    static var connectionLimit: Int? { nil }

    /// A context for one of the kind's initialisers: the creator, dialect and options given,
    /// no listeners yet.
    static func makeContext(
        _ creator: Creator<Connection>, dialect: any Dialect<Connection>, options: PoolOptions, driverIsAsync: Bool = false
    ) -> PoolContext<Connection> {
        PoolContext(
            creator: creator, dialect: dialect, events: PoolEvents(), options: options, kind: kindName,
            connectionLimit: connectionLimit, driverIsAsync: driverIsAsync)
    }

    /// The context of a pool over an async driver: the options checked for one
    /// (``AsyncDriverOptions``), the dialect behind the bridge.
    static func asyncDriverContext(
        _ creator: Creator<Connection>, dialect: some AsyncDialect<Connection>, options: PoolOptions
    ) throws -> PoolContext<Connection> {
        try AsyncDriverOptions.validate(options)
        return makeContext(creator, dialect: AsyncDialectBridge(base: dialect), options: options, driverIsAsync: true)
    }

    /// The context for `recreate()`: the same creator, dialect and options, a copy of the listeners.
    var recreatedContext: PoolContext<Connection> { context.recreated(kind: Self.kindName) }
}

// MARK: Public members every simple kind shares

extension SimplePoolKind {
    /// The pool's event hooks.
    public var events: PoolEvents<Connection> { context.events }
    /// The options the pool was created with.
    public var options: PoolOptions { context.options }
    /// The threads on which async callers' driver work runs; see ``PoolOptions/driverThreads``.
    /// Unused by a SingletonThreadPool, which serves blocking callers only.
    public var driverExecutor: DriverExecutor? { context.driverExecutor }
    /// Where an async `withConnection` runs its body; see ``Pool/bodyExecutor``.
    public var bodyExecutor: DriverExecutor? { context.bodyExecutor }

    /// The connections the pool holds (none for a NullPool, the one connection of a StaticPool or
    /// AssertionPool, one per thread for a SingletonThreadPool) and the cumulative counters,
    /// `checkouts` included; see ``PoolStatistics``.
    public var statistics: PoolStatistics {
        var snapshot = PoolStatistics.fromCounters(context.counters)
        let held = heldConnections
        snapshot.openConnections = held.open
        snapshot.inUse = held.inUse
        snapshot.idle = held.open - held.inUse
        return snapshot
    }

    /// The kind's name: `NullPool`, `StaticPool` or `AssertionPool`.
    public func status() -> String { Self.kindName }

    /// Pool-wide invalidation; see ``Pool/invalidateAll(triggeredBy:error:)``.
    public func invalidateAll(triggeredBy fairy: ConnectionFairy<Connection>?, error: (any Error)?) {
        context.invalidateAll(triggeredBy: fairy, error: error)
    }

    /// Checks a connection out by the kind's rules (see the pool's own documentation); these
    /// kinds never wait for one. Over an async driver, throws ``PoolError/unsupported(_:)``: use
    /// the async `connect()`.
    public func checkout(at site: CheckoutSite) throws -> ConnectionFairy<Connection> {
        if context.driverIsAsync { throw PoolError.unsupported(AsyncBridge.blockingAPIMessage) }
        return try checkoutBlocking(at: site)
    }

    /// The blocking checkout, run on the pool's driver threads so that connecting, pre-ping and
    /// checkout listeners never hold a cooperative thread; the fairy's return runs there too.
    public func checkout(at site: CheckoutSite) async throws -> ConnectionFairy<Connection> {
        try context.shutdownGate.checkRunning()
        guard let executor = context.driverExecutor else { return try checkoutBlocking(at: site) }
        let fairy = try await executor.run { try checkoutBlocking(at: site) }
        fairy.returnsOnDriverThreads = true
        return fairy
    }
}

// MARK: Shutdown

extension SimplePoolKind {
    func shutdownBlocking(gracePeriod: Duration) -> Int {
        beginShutdown()
        return ShutdownGate.waitBlocking(gracePeriod: gracePeriod) { outstandingCheckouts }
    }

    func shutdownAsync(gracePeriod: Duration) async -> Int {
        if let executor = context.driverExecutor {
            try? await executor.run { beginShutdown() }
        } else {
            beginShutdown()
        }
        return await ShutdownGate.wait(gracePeriod: gracePeriod) { outstandingCheckouts }
    }

    private func beginShutdown() {
        context.shutdownGate.close()
        closeIdleForShutdown()
        context.log(.info, "Pool shutting down")
    }
}
