import DBPool
import ServiceLifecycle

/// A swift-service-lifecycle `Service` that owns a pool: add it to your `ServiceGroup` and the
/// pool is shut down when the group shuts down.
///
/// `run()` waits for the group's graceful shutdown, then calls
/// `Pool.shutdown(gracePeriod:)` (async form): new checkouts fail,
/// idle connections close, and connections still out get up to `gracePeriod` to come back.
/// Cancelled instead (the group was cancelled, or the grace period of the group ran out),
/// `run()` still shuts the pool down but stops waiting at once, so it returns promptly.
///
/// Put the services that use the pool before this one in the group: a group shuts its services
/// down in reverse order, so they stop checking out before the pool closes.
///
/// ```swift
/// let pool = try QueuePool(...)
/// let group = ServiceGroup(services: [app, try PoolService(pool)], logger: logger)
/// try await group.run()
/// ```
public struct PoolService<P: Pool>: Service {
    /// The pool this service shuts down.
    public let pool: P
    /// How long the shutdown waits for checked-out connections.
    public let gracePeriod: Duration
    /// Called with the number of connections still checked out when the shutdown ended (they are
    /// closed when they are returned); `nil` reports nothing.
    public let onShutdown: (@Sendable (_ stillCheckedOut: Int) -> Void)?

    /// Creates the service. Throws `PoolError.invalidArgument(_:)` for a negative
    /// grace period.
    public init(_ pool: P, gracePeriod: Duration = .seconds(30), onShutdown: (@Sendable (Int) -> Void)? = nil) throws {
        guard gracePeriod >= .zero else {
            throw PoolError.invalidArgument("gracePeriod must be a duration >= 0 seconds; got \(gracePeriod)")
        }
        self.pool = pool
        self.gracePeriod = gracePeriod
        self.onShutdown = onShutdown
    }

    /// Waits for graceful shutdown (or cancellation), then shuts the pool down.
    public func run() async throws {
        // Throws CancellationError when the task is cancelled: the pool is shut down either way,
        // and the async shutdown stops waiting at once in a cancelled task.
        try? await gracefulShutdown()
        let stillOut = await pool.shutdown(gracePeriod: gracePeriod)
        onShutdown?(stillOut)
    }
}
