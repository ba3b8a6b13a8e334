/// Where the pool reads the time for its timestamps: connection start times, recycle ages and
/// (later) idle and lifetime limits. Inject a ``PoolClock`` to make time-based behaviour testable
/// without sleeping; `DBPoolTesting.ManualClock` is one.
///
/// Waits for a connection (`timeout`) always use real time, because a blocked thread or a
/// suspended task has to be woken by something real.
public protocol PoolClock: Sendable {
    /// The current instant.
    var now: ContinuousClock.Instant { get }
    /// How long, in real time, a background thread waiting for `deadline` (on this clock) should
    /// sleep before it reads ``now`` again. The default is the time left until `deadline`. A clock
    /// that a test moves by hand returns a short poll interval instead, so that the pool's
    /// maintenance thread follows the test's clock.
    func realDelay(until deadline: ContinuousClock.Instant) -> Duration
}

extension PoolClock {
    /// The time left until `deadline`, or zero if it has passed.
    public func realDelay(until deadline: ContinuousClock.Instant) -> Duration {
        let left = deadline - now
        return left > .zero ? left : .zero
    }
}

/// The real clock: `ContinuousClock.now`.
public struct SystemClock: PoolClock {
    /// Creates the system clock.
    public init() {}
    /// `ContinuousClock.now`.
    @inlinable public var now: ContinuousClock.Instant { ContinuousClock.now }
}
