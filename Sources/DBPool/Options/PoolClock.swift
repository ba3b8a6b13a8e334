/// Where the pool reads the time for its timestamps: connection start times, recycle ages and
/// (later) idle and lifetime limits. Inject a ``PoolClock`` to make time-based behaviour testable
/// without sleeping; `DBPoolTesting.ManualClock` is one.
///
/// Waits for a connection (`timeout`) always use real time, because a blocked thread or a
/// suspended task has to be woken by something real.
public protocol PoolClock: Sendable {
    /// The current instant.
    var now: ContinuousClock.Instant { get }
}

/// The real clock: `ContinuousClock.now`.
public struct SystemClock: PoolClock {
    /// Creates the system clock.
    public init() {}
    /// `ContinuousClock.now`.
    @inlinable public var now: ContinuousClock.Instant { ContinuousClock.now }
}
