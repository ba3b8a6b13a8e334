/// A snapshot of a pool's state and cumulative counters, taken under the pool's lock in O(1)
/// (the close counters are read from atomics beside it).
public struct PoolStatistics: Sendable, CustomStringConvertible {
    /// Records in existence: idle, in use, being created or being closed. Not ``QueuePool/size``,
    /// which is the configured `poolSize`.
    public var openConnections: Int
    /// The former name of ``openConnections``, which was easy to read as `poolSize`.
    @available(*, deprecated, renamed: "openConnections")
    public var size: Int {
        get { openConnections }
        set { openConnections = newValue }
    }
    /// Idle connections.
    public var idle: Int
    /// Records checked out (including ones being created for a checkout).
    public var inUse: Int
    /// Connections open beyond `poolSize` right now: `max(0, openConnections - poolSize)`, so never
    /// negative (QueuePool; always 0 for an unlimited QueuePool and for the other kinds).
    /// ``QueuePool/overflow`` keeps SQLAlchemy's signed `overflow()`, which is negative while the
    /// pool holds fewer than `poolSize` connections.
    public var overflow: Int
    /// Checkouts waiting for a connection now.
    public var waiters: Int
    /// Connections being opened now.
    public var connecting: Int
    /// Successful checkouts since the pool was created, on every pool kind. A checkout that fails
    /// (in the creator, the pre-ping or a `checkout` listener) is not counted, nor is a nested
    /// SingletonThreadPool checkout that hands the thread's current fairy out again.
    public var checkouts: Int
    /// Checkouts that had to wait (served or timed out).
    public var waits: Int
    /// Total time spent waiting, over all waits.
    public var totalWaitTime: Duration
    /// The longest single wait.
    public var maxWaitTime: Duration
    /// Checkouts that timed out.
    public var timeouts: Int
    /// Driver connections opened.
    public var connectionsCreated: Int
    /// Creator calls that failed.
    public var connectFailures: Int
    /// Pooled connections closed, by reason.
    public var closes: [CloseReason: Int]
    /// The most recent connect error, if any; tells "database down" from "pool exhausted" when
    /// checkouts time out.
    public var lastConnectError: (any Error)?
    /// Consecutive failed connects right now (0 once a connect succeeds).
    public var consecutiveConnectFailures: Int

    /// One line, for logs.
    public var description: String {
        let closed = CloseReason.allCases.compactMap { reason in closes[reason].flatMap { $0 > 0 ? "\(reason)=\($0)" : nil } }
        return "open=\(openConnections) idle=\(idle) inUse=\(inUse) overflow=\(overflow) waiters=\(waiters) connecting=\(connecting) "
            + "checkouts=\(checkouts) waits=\(waits) maxWait=\(maxWaitTime) timeouts=\(timeouts) "
            + "created=\(connectionsCreated) connectFailures=\(connectFailures) closes=[\(closed.joined(separator: " "))]"
    }

    static func fromCounters(_ counters: StatisticsCounters) -> PoolStatistics {
        PoolStatistics(
            openConnections: 0, idle: 0, inUse: 0, overflow: 0, waiters: 0, connecting: 0,
            checkouts: counters.checkouts.load(ordering: .relaxed), waits: 0,
            totalWaitTime: .zero, maxWaitTime: .zero, timeouts: 0,
            connectionsCreated: counters.created.load(ordering: .relaxed),
            connectFailures: counters.connectFailures.load(ordering: .relaxed),
            closes: counters.closesByReason, lastConnectError: nil, consecutiveConnectFailures: 0)
    }
}
