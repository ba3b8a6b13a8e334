/// Where the driver work of async callers runs: ``PoolOptions/driverThreads``.
///
/// Driver calls are synchronous (DB-API style), and a synchronous call that waits for the network
/// or a lock holds the thread it runs on. From an async caller, that thread would be one of Swift's
/// few cooperative threads, so by default the pool runs such work on threads it owns (see
/// ``DriverExecutor``). Blocking callers are not affected: their driver calls run on their own
/// thread, as always. SQLAlchemy has no equivalent: its asyncio pools hold async drivers only.
public enum DriverThreads: Sendable {
    /// The default: the pool's own threads, started on demand, as many as the connections the pool
    /// may have open at once (QueuePool: `poolSize + maxOverflow`, no limit when the pool has
    /// none; AssertionPool: 1; NullPool and StaticPool: no limit), plus two for the short work
    /// around a checkout that holds no connection, so that every connection can be busy at the
    /// same time.
    case automatic
    /// The pool's own threads, started on demand, at most this many (1 to
    /// ``largestThreadCount``). Fewer threads than connections means a body that blocks may wait
    /// for a thread, not only for a connection.
    case limit(Int)
    /// Threads shared with other pools: pass one ``DriverExecutor`` to several pools.
    case shared(DriverExecutor)
    /// No threads: driver calls run wherever the caller runs, as in a blocking checkout. Only for
    /// drivers that never block, such as in-memory test doubles; a driver that waits for the
    /// network would hold a cooperative thread.
    case inline

    /// The largest accepted thread count; more is a typo rather than a plan.
    public static let largestThreadCount = 100_000

    static func validate(count: Int, parameter: String) throws {
        guard count >= 1, count <= largestThreadCount else {
            throw PoolError.invalidArgument("\(parameter) must be between 1 and \(largestThreadCount); got \(count)")
        }
    }

    func validate() throws {
        if case let .limit(count) = self {
            try Self.validate(count: count, parameter: "driverThreads")
        }
    }

    /// The executor a pool uses, given how many connections it may have open at once (`nil`:
    /// no limit). `nil` for `.inline`.
    func makeExecutor(connectionLimit: Int?) -> DriverExecutor? {
        switch self {
        case .inline:
            return nil
        case let .shared(executor):
            return executor
        case let .limit(count):
            // A count out of range makes no executor here; the pool's validation then rejects it.
            return try? DriverExecutor(maximumThreads: count)
        case .automatic:
            return try! DriverExecutor(maximumThreads: connectionLimit.map { Swift.min(Swift.max($0, 1), Self.largestThreadCount - 2) + 2 })
        }
    }
}
