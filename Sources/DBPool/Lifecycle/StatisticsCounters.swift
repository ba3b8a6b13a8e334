import Synchronization

/// Why a pooled driver connection was closed, for ``PoolStatistics/closes``.
public enum CloseReason: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Returned to a QueuePool whose idle store was full.
    case overflow
    /// Replaced at checkout after a soft or pool-wide invalidation.
    case recycle
    /// Hard-invalidated (an error, a failed ping, `invalidate()`).
    case invalidated
    /// Closed by the maintenance thread after `idleTimeout`.
    case idleTimeout
    /// Replaced at checkout after reaching its `recycle` age or `maxUsage`.
    case lifetime
    /// Closed by `shutdown(gracePeriod:)`.
    case shutdown
    /// Closed by `dispose()`, by a NullPool return, or by SingletonThreadPool's cleanup.
    case disposed

    /// The raw name.
    public var description: String { rawValue }
}

/// Counters updated outside the pool's lock (creation and close paths), as relaxed atomics.
final class StatisticsCounters: Sendable {
    let created = Atomic<Int>(0)
    let connectFailures = Atomic<Int>(0)
    /// Successful checkouts, for the pool kinds without a state machine (QueuePool counts its
    /// own, under its lock).
    let checkouts = Atomic<Int>(0)
    private let overflow = Atomic<Int>(0)
    private let recycle = Atomic<Int>(0)
    private let invalidated = Atomic<Int>(0)
    private let idleTimeout = Atomic<Int>(0)
    private let lifetime = Atomic<Int>(0)
    private let shutdown = Atomic<Int>(0)
    private let disposed = Atomic<Int>(0)

    private func counter(_ reason: CloseReason) -> Int {
        switch reason {
        case .overflow: overflow.load(ordering: .relaxed)
        case .recycle: recycle.load(ordering: .relaxed)
        case .invalidated: invalidated.load(ordering: .relaxed)
        case .idleTimeout: idleTimeout.load(ordering: .relaxed)
        case .lifetime: lifetime.load(ordering: .relaxed)
        case .shutdown: shutdown.load(ordering: .relaxed)
        case .disposed: disposed.load(ordering: .relaxed)
        }
    }

    /// Counts a checkout that has succeeded: called once the fairy is ready, so a checkout that
    /// fails in the creator, the pre-ping or a checkout listener is not counted.
    func countCheckout() {
        checkouts.wrappingAdd(1, ordering: .relaxed)
    }

    func countClose(_ reason: CloseReason) {
        switch reason {
        case .overflow: overflow.wrappingAdd(1, ordering: .relaxed)
        case .recycle: recycle.wrappingAdd(1, ordering: .relaxed)
        case .invalidated: invalidated.wrappingAdd(1, ordering: .relaxed)
        case .idleTimeout: idleTimeout.wrappingAdd(1, ordering: .relaxed)
        case .lifetime: lifetime.wrappingAdd(1, ordering: .relaxed)
        case .shutdown: shutdown.wrappingAdd(1, ordering: .relaxed)
        case .disposed: disposed.wrappingAdd(1, ordering: .relaxed)
        }
    }

    var closesByReason: [CloseReason: Int] {
        Dictionary(uniqueKeysWithValues: CloseReason.allCases.map { ($0, counter($0)) })
    }
}
