/// Why a pooled driver connection was closed, for ``PoolStatistics/closes``: each case says what
/// happened to it.
public enum CloseReason: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Returned to a QueuePool whose idle store was full (an overflow connection).
    case overflow
    /// Hard-invalidated: an error, a failed ping, `invalidate()`.
    case invalidated
    /// Replaced at checkout because it was older than a pool-wide invalidation
    /// (`invalidateAll`, or a disconnect that invalidated the pool).
    case poolInvalidated
    /// Replaced at checkout after a soft invalidation (`invalidate(soft: true)`).
    case softInvalidated
    /// Replaced at checkout after reaching its `recycle` age (SQLAlchemy's recycle).
    case recycledByAge
    /// Replaced at checkout after serving `maxUsage` checkouts.
    case maxUsage
    /// Closed by the maintenance thread after `idleTimeout` unused.
    case idleTimeout
    /// Closed by `shutdown(gracePeriod:)`.
    case shutdown
    /// Closed by `dispose()`, by a NullPool return, or by SingletonThreadPool's cleanup.
    case disposed

    /// The raw name.
    public var description: String { rawValue }

    /// The position in `allCases`, for the statistics counters.
    var index: Int { Self.allCases.firstIndex(of: self)! }
}
