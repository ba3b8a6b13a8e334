/// What the pool kinds without a state machine (NullPool, StaticPool, SingletonThreadPool,
/// AssertionPool) share: shutdown and the async checkout. None of them ever waits for a
/// connection, so their async checkout is the blocking one, run on the pool's driver threads.
protocol SimplePoolKind: RecordPool {
    /// Checked-out connections the pool is still responsible for (for shutdown's grace period).
    var outstandingCheckouts: Int { get }
    /// Closes what the pool holds idle: shutdown's first step.
    func closeIdleForShutdown()
    /// The blocking checkout.
    func checkoutBlocking(at site: CheckoutSite) throws -> ConnectionFairy<RecordConnection>
}

extension SimplePoolKind {
    /// The async checkout: the blocking one on the driver threads, so that connecting, pre-ping
    /// and checkout listeners never hold a cooperative thread; its fairy's return runs there too.
    func checkoutOnDriverThreads(at site: CheckoutSite) async throws -> ConnectionFairy<RecordConnection> {
        try context.shutdownGate.checkRunning()
        guard let executor = context.driverExecutor else { return try checkoutBlocking(at: site) }
        let fairy = try await executor.run { try checkoutBlocking(at: site) }
        fairy.returnsOnDriverThreads = true
        return fairy
    }

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
