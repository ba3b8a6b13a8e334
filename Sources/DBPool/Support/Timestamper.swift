#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Cheap timestamps on the pool's clock: checkout times, idle-since times, backoff deadlines,
/// wait deadlines. The pool keeps one time base: stamps, nanoseconds since the timestamper was
/// made, on the pool's ``PoolClock``. Names say what a helper does: `now()` and `read…Stamp()`
/// read the clock; `stamp(of:)`, `instant(fromStamp:)` and `nanoseconds(in:)` only convert.
/// `ContinuousClock.Instant` appears only at the edges (the public API and the clock itself),
/// and `DispatchTime` only where a semaphore sleeps (QueuePool's `realWaitLimit(until:)`).
///
/// With the system clock a stamp comes from the coarse monotonic clock (a few nanoseconds,
/// accurate to a few milliseconds, which is plenty for diagnostics and idle limits); with an
/// injected ``PoolClock`` it is that clock's `now`, so tests control it.
///
/// Layout note: `ContinuousClock.Instant` is not a frozen type, so a struct that stores one gets
/// its field offsets computed at run time, and code that touches any field after it looks up
/// type metadata first. The origin instant therefore lives in a small class, and the pool's
/// state machine keeps its deadlines as stamps (`Int64`) rather than instants.
@usableFromInline
struct Timestamper: Sendable {
    @usableFromInline
    final class Origin: Sendable {
        @usableFromInline let instant: ContinuousClock.Instant
        init(_ instant: ContinuousClock.Instant) { self.instant = instant }
    }

    @usableFromInline let usesSystemClock: Bool
    @usableFromInline let coarseBase: Int64
    @usableFromInline let clock: any PoolClock
    @usableFromInline let origin: Origin

    init(clock: any PoolClock) {
        self.usesSystemClock = clock is SystemClock
        self.coarseBase = coarseMonotonicNanoseconds()
        self.clock = clock
        self.origin = Origin(clock.now)
    }

    /// The current instant on the pool's clock (coarse with the system clock).
    @inlinable
    func now() -> ContinuousClock.Instant {
        guard usesSystemClock else { return clock.now }
        return instant(fromStamp: coarseMonotonicNanoseconds() - coarseBase)
    }

    /// The same timestamp as ``now()``, as nanoseconds since the timestamper was made: what the
    /// checkout path records, because 64-bit arithmetic costs less than `Instant`'s 128-bit.
    @inlinable
    func readStamp() -> Int64 {
        guard usesSystemClock else { return stamp(of: clock.now) }
        return coarseMonotonicNanoseconds() - coarseBase
    }

    /// Like ``readStamp()``, but from the fine monotonic clock (about 25 ns a read): for
    /// decisions that need sub-millisecond resolution, such as how long the head of the wait queue
    /// has waited. With an injected ``PoolClock`` it is that clock's `now`, as for every stamp.
    @usableFromInline
    func readPreciseStamp() -> Int64 {
        guard usesSystemClock else { return stamp(of: clock.now) }
        return fineMonotonicNanoseconds() - coarseBase
    }

    /// Turns a ``readStamp()`` value back into an instant.
    @usableFromInline
    func instant(fromStamp nanoseconds: Int64) -> ContinuousClock.Instant {
        origin.instant + .nanoseconds(nanoseconds)
    }

    /// Turns an instant on the pool's clock into a stamp.
    @usableFromInline
    func stamp(of instant: ContinuousClock.Instant) -> Int64 {
        Self.nanoseconds(in: instant - origin.instant)
    }

    /// A duration in whole nanoseconds, saturating instead of overflowing.
    @usableFromInline
    static func nanoseconds(in duration: Duration) -> Int64 {
        // `components` traps when the seconds do not fit in an Int64, which a difference of
        // instants can exceed (a clock moved on, plus a timeout of `Int64.max` seconds); any
        // such duration is far past what the nanoseconds can hold anyway.
        guard duration < .seconds(Int64.max) else { return .max }
        guard duration > .seconds(Int64.min) else { return .min }
        let (seconds, attoseconds) = duration.components
        let (scaled, overflowed) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflowed { return seconds < 0 ? .min : .max }
        let (sum, overflowedAgain) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowedAgain ? (seconds < 0 ? .min : .max) : sum
    }
}

/// CLOCK_MONOTONIC_COARSE in nanoseconds: read from the vDSO without a hardware counter, so it
/// costs a few nanoseconds, at a resolution of a few milliseconds.
@usableFromInline
func coarseMonotonicNanoseconds() -> Int64 {
    var spec = timespec()
    #if os(Linux)
        clock_gettime(CLOCK_MONOTONIC_COARSE, &spec)
    #else
        clock_gettime(CLOCK_MONOTONIC, &spec)
    #endif
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}

/// The fine monotonic clock, on the same timeline as ``coarseMonotonicNanoseconds()``.
func fineMonotonicNanoseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}
