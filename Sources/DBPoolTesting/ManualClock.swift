import DBPool
import Synchronization

/// A `PoolClock` that stands still until the test moves it, for testing recycle ages and
/// connection timestamps without sleeping.
///
/// ```swift
/// let clock = ManualClock()
/// let pool = try QueuePool(poolSize: 1, maxOverflow: 0,
///                          options: PoolOptions(recycle: .seconds(3), clock: clock),
///                          dialect: MockDialect(), creator: dbapi.creator())
/// try pool.connect().close()
/// clock.advance(by: .seconds(4))        // the idle connection is now older than `recycle`
/// try pool.connect().close()            // so this checkout replaces it
/// XCTAssertEqual(dbapi.connections.count, 2)
/// ```
///
/// It only affects what the pool reads as "now". Waits for a free connection (`timeout`) use real
/// time, so a `ManualClock` cannot make a checkout time out. Safe to read and advance from any
/// thread.
public final class ManualClock: PoolClock {
    private let current: Guarded<ContinuousClock.Instant>

    /// Creates a clock that reads `now` (by default the real current instant) until advanced.
    public init(now: ContinuousClock.Instant = .now) {
        current = Guarded(now)
    }

    /// The clock's current instant. It changes only through ``advance(by:)`` and ``set(to:)``.
    public var now: ContinuousClock.Instant { current.withLock { $0 } }

    /// Moves the clock forward by `duration`. A negative duration moves it back, for testing how
    /// a pool copes with a clock that goes backwards.
    public func advance(by duration: Duration) {
        current.withLock { $0 = $0.advanced(by: duration) }
    }

    /// A pool's maintenance thread waiting on this clock re-reads it every few milliseconds, so
    /// that `advance(by:)` wakes it promptly (idle timeout, keep-alive, backoff retries).
    public func realDelay(until deadline: ContinuousClock.Instant) -> Duration {
        deadline > now ? .milliseconds(2) : .zero
    }

    /// Sets the clock to `instant`, forwards or backwards.
    public func set(to instant: ContinuousClock.Instant) {
        current.withLock { $0 = instant }
    }
}
