/// Where the pool reads the time: connection start times and recycle ages, idle timeout,
/// keep-alive, backoff, leak detection, the overtake window, and checkout waits (`timeout`).
/// Inject a ``PoolClock`` to make time-based behaviour testable without sleeping;
/// DBPoolTesting's `ManualClock` is one.
///
/// A blocked thread or a suspended task still has to be woken by something real: it sleeps for
/// ``realDelay(until:)`` and then reads ``now`` again. With ``SystemClock`` that is the time
/// left; a clock that a test moves by hand answers with a short poll, so that advancing it past a
/// deadline times the waiter out at once.
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
