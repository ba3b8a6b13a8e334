/// QueuePool over an async driver (an ``AsyncDialect`` and an `async` creator): the same pool,
/// state machine and lifecycle, with every driver call waited for on the pool's own threads.
extension QueuePool {
    /// Creates a QueuePool over an async driver, with a creator that takes no argument.
    ///
    /// `async` because a `minIdle` pre-fill connects before the pool is handed over (and, with
    /// `failFast`, throws the creator's error), waiting for the driver on the pool's threads.
    /// The pool has only the async API: the blocking one throws ``PoolError/unsupported(_:)``.
    /// `options.driverThreads` may not be ``DriverThreads/inline``.
    public convenience init(
        poolSize: Int = 5, maxOverflow: Int = 10, timeout: Duration? = .seconds(30), useLIFO: Bool = false,
        options: PoolOptions = PoolOptions(), dialect: some AsyncDialect<Connection>,
        creator: @escaping @Sendable () async throws -> Connection
    ) async throws {
        try AsyncDriverOptions.validate(options)
        try self.init(
            poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
            context: PoolContext(
                creator: .async(creator), dialect: AsyncDialectBridge(base: dialect), events: PoolEvents(),
                options: options, kind: "QueuePool",
                connectionLimit: Self.connectionLimit(poolSize: poolSize, maxOverflow: maxOverflow), driverIsAsync: true))
        try await startOnDriverThreads()
    }

    /// Creates a QueuePool over an async driver, with a creator that receives the record it
    /// connects; otherwise as the form with a plain creator.
    public convenience init(
        poolSize: Int = 5, maxOverflow: Int = 10, timeout: Duration? = .seconds(30), useLIFO: Bool = false,
        options: PoolOptions = PoolOptions(), dialect: some AsyncDialect<Connection>,
        creator: @escaping @Sendable (ConnectionRecord<Connection>) async throws -> Connection
    ) async throws {
        try AsyncDriverOptions.validate(options)
        try self.init(
            poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
            context: PoolContext(
                creator: .async(creator), dialect: AsyncDialectBridge(base: dialect), events: PoolEvents(),
                options: options, kind: "QueuePool",
                connectionLimit: Self.connectionLimit(poolSize: poolSize, maxOverflow: maxOverflow), driverIsAsync: true))
        try await startOnDriverThreads()
    }

    /// Where an async `withConnection` runs its body; see ``Pool/bodyExecutor``.
    public var bodyExecutor: DriverExecutor? { context.bodyExecutor }

    /// The pre-fill and the maintenance thread's start that the synchronous initialiser leaves
    /// to an async driver's pool, run on the driver threads, where the creator may be waited for.
    private func startOnDriverThreads() async throws {
        // Never nil: `.inline` was refused, and every other setting has an executor.
        if let executor = context.driverExecutor {
            try await executor.run { try prefill() }
        }
        startMaintenance()
    }

    /// ``startOnDriverThreads()`` for `recreate()`, which cannot wait: the pre-fill runs on the
    /// driver threads in the background (a failure is logged and retried by maintenance).
    func startInBackground() {
        guard let executor = context.driverExecutor else { return startMaintenance() }
        executor.submit { [self] in
            do {
                try prefill()
            } catch {
                context.log(.error, "Pre-filling the recreated pool failed; the maintenance thread will retry", error: error)
            }
            startMaintenance()
        }
    }
}
