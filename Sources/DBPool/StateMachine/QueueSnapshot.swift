/// QueuePool's state and counters at one instant, as its state machine reports them: the only
/// way the pool reads the machine's state (for ``QueuePool/statistics``, `status()`, the
/// accessors and the timeout error).
@usableFromInline
struct QueueSnapshot: Equatable, Sendable {
    @usableFromInline var poolSize: Int
    /// Records in existence, including ones being created or closed.
    @usableFromInline var open: Int
    @usableFromInline var idle: Int
    @usableFromInline var connecting: Int
    @usableFromInline var waiting: Int
    @usableFromInline var phase: PoolPhase
    @usableFromInline var counters: QueueCounters
    @usableFromInline var consecutiveFailures: Int
    /// The last connect error, kept after a success too (``PoolStatistics/lastConnectError``).
    @usableFromInline var lastConnectError: (any Error)?

    @inlinable
    init(
        poolSize: Int, open: Int, idle: Int, connecting: Int, waiting: Int, phase: PoolPhase, counters: QueueCounters,
        consecutiveFailures: Int, lastConnectError: (any Error)?
    ) {
        self.poolSize = poolSize
        self.open = open
        self.idle = idle
        self.connecting = connecting
        self.waiting = waiting
        self.phase = phase
        self.counters = counters
        self.consecutiveFailures = consecutiveFailures
        self.lastConnectError = lastConnectError
    }

    @inlinable var checkedOut: Int { open - idle }
    /// SQLAlchemy's signed `overflow()`: negative while fewer than `poolSize` exist.
    @inlinable var overflow: Int { poolSize > 0 ? open - poolSize : 0 }
    /// The detail a timeout error carries: the connect error only while connects keep failing.
    var timeoutDetail: PoolTimeoutDetail {
        PoolTimeoutDetail(
            checkedOut: checkedOut, idle: idle, waiting: waiting, connecting: connecting,
            lastConnectError: consecutiveFailures > 0 ? lastConnectError : nil)
    }

    /// Errors compare by their text: the snapshot is compared in tests, never on a hot path.
    @usableFromInline
    static func == (a: QueueSnapshot, b: QueueSnapshot) -> Bool {
        a.poolSize == b.poolSize && a.open == b.open && a.idle == b.idle && a.connecting == b.connecting
            && a.waiting == b.waiting && a.phase == b.phase && a.counters == b.counters
            && a.consecutiveFailures == b.consecutiveFailures
            && a.lastConnectError.map { "\($0)" } == b.lastConnectError.map { "\($0)" }
    }
}

/// Whether a QueuePool hands out connections.
@usableFromInline
enum PoolPhase: Sendable { case running, shuttingDown, shutDown }

/// QueuePool's checkout and wait counters, kept by its state machine.
@usableFromInline
struct QueueCounters: Equatable, Sendable {
    @usableFromInline var checkouts = 0
    @usableFromInline var waits = 0
    @usableFromInline var totalWait = Duration.zero
    @usableFromInline var maxWait = Duration.zero
    @usableFromInline var timeouts = 0

    @inlinable init() {}
}

/// Why the state machine fails a checkout or a waiter.
@usableFromInline
enum WaitFailure: Equatable, Sendable {
    case shutDown
    case cancelled
    /// The wait outlasted the pool's `timeout`; the pool as it was then.
    /// (Indirect: the snapshot is large, and a checkout's every answer would carry its size.)
    indirect case timedOut(QueueSnapshot)
    /// A woken waiter found neither a grant nor a failure: it cannot happen, and fails the
    /// checkout as a closed connection would rather than stop the program.
    case notServed

    /// The error the caller sees: SQLAlchemy's timeout text with its detail, `PoolError.shutDown`,
    /// or `CancellationError`.
    func error(timeout: Duration?) -> any Error {
        switch self {
        case .shutDown:
            return PoolError.shutDown
        case .cancelled:
            return CancellationError()
        case .notServed:
            return PoolError.connectionClosed
        case let .timedOut(snapshot):
            return PoolError.timeout(
                size: snapshot.poolSize, overflow: snapshot.overflow, timeout: timeout ?? .zero, detail: snapshot.timeoutDetail)
        }
    }
}
