/// Graceful shutdown, blocking and async.
extension QueuePool {
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
    func runOnDriverThreads(_ work: () -> Void) async {
        guard let executor = context.driverExecutor else { return work() }
        // `run` rethrows only what `work` throws, and `work` cannot throw.
        try? await executor.run(work)
    }

    var outstanding: Int { snapshot.open }

    func beginShutdown() {
        let effects = state.withLock { $0.shutdown() }.effects
        if let effects { run(effects) }
        context.log(.info, "Pool shutting down: \(effects?.wake.count ?? 0) waiters failed, \(effects?.close.count ?? 0) idle connections closed")
    }

    func finishShutdown() -> Int {
        let effects = state.withLock { $0.finishShutdown() }.effects
        maintenance?.stop()
        if let effects { run(effects) }
        context.log(.info, "Pool shut down. \(status())")
        return effects?.stillCheckedOut.count ?? 0
    }
}
