/// The most connections any size setting may ask for (`poolSize`, `maxOverflow`, `minIdle`):
/// a million. It is far above what one database server accepts, so a larger value is a typo,
/// and it keeps the pool's slot arithmetic (`poolSize + maxOverflow`) far from `Int.max`.
let maximumConnectionCount = 1_000_000

/// Settings shared by every pool kind. The SQLAlchemy settings come first, with SQLAlchemy's
/// defaults. The settings after them go beyond SQLAlchemy: the lifecycle ones (`minIdle`,
/// `idleTimeout`, `keepAlive`, `connectBackoff`, leak detection, …) are off by default; three are
/// on, because they change no SQLAlchemy behaviour a caller can rely on: `maxConnecting` (2
/// connects at a time; SQLAlchemy has no such limit), `overtakeWindow` (1 ms of bounded
/// overtaking for blocking waiters; SQLAlchemy's queue makes no ordering promise at all) and
/// `driverThreads` (async callers' driver work on the pool's own threads; SQLAlchemy's asyncio
/// pools hold async drivers only).
///
/// Values are checked when a pool is created: a pool initialiser throws
/// ``PoolError/invalidArgument(_:)`` for a value out of range, naming the parameter, the value and
/// the accepted range, and for a QueuePool-only setting given to another kind. Nothing is clamped.
public struct PoolOptions: Sendable {
    /// Replace a connection at checkout once it is older than this (strictly greater).
    /// `nil` (the default) never recycles; SQLAlchemy's `recycle=-1`. Must not be negative.
    public var recycle: Duration?
    /// What to do with the transaction when a connection comes back. Default `.rollback`.
    public var resetOnReturn: ResetOnReturn
    /// Test each non-fresh connection with the dialect's ping at checkout. Default `false`.
    public var prePing: Bool
    /// The name used in log messages; the pool kind when `nil`.
    public var loggingName: String?
    /// Where timestamps come from. Default ``SystemClock``.
    public var clock: any PoolClock
    /// Where log messages go. Default: warnings and errors to standard error.
    public var logHandler: PoolLogHandler

    // MARK: Lifecycle (beyond SQLAlchemy)

    /// Shortens each connection's `recycle` age by a random fraction of up to this much
    /// (HikariCP uses 0.025), so that connections made together do not all expire together.
    /// 0 (the default) is off; accepted 0 to 0.5. All pool kinds.
    public var recycleJitter: Double
    /// Replace a connection at checkout once it has served this many checkouts (DBUtils'
    /// `maxusage`). `nil` (the default) is unlimited; otherwise >= 1. All pool kinds.
    public var maxUsage: Int?
    /// QueuePool: keep at least this many idle connections, opening them at construction and
    /// topping them up in the background. Default 0; at most `poolSize` (at most 1,000,000 when
    /// `poolSize` is 0, unlimited).
    public var minIdle: Int
    /// QueuePool with `minIdle`: construction throws the first connect error instead of starting
    /// with fewer connections. Default `false` (a failed pre-fill is logged and retried later).
    public var failFast: Bool
    /// QueuePool: close idle connections, above `minIdle`, that have sat unused this long.
    /// `nil` (the default) keeps them. Must be > 0.
    public var idleTimeout: Duration?
    /// QueuePool: ping idle connections that have been idle this long, in the background, and
    /// replace those that fail, so a dead database is noticed before a request finds it. Needs a
    /// dialect that can ping (``Dialect/supportsPing``): a QueuePool over ``DefaultDialect``
    /// rejects it. `nil` (the default) is off. Must be > 0.
    public var keepAlive: Duration?
    /// QueuePool: at most this many connections are being opened at once; further checkouts that
    /// need a new connection wait for one of those to finish or for a returned connection.
    /// Default 2, as MongoDB's CMAP; >= 1.
    public var maxConnecting: Int
    /// QueuePool: spacing between connection attempts after consecutive failures. `nil` (the
    /// default) retries at once, as SQLAlchemy does.
    public var connectBackoff: ConnectBackoff?
    /// QueuePool: report, once, each connection held longer than this, through the log handler,
    /// with the file and line that checked it out. `nil` (the default) is off. Must be > 0.
    public var leakDetectionThreshold: Duration?
    /// QueuePool: how long the longest-waiting *blocking* caller may be overtaken. While it has
    /// waited less than this, a returned connection goes back to the idle store and that caller
    /// is woken to come and take it, so a caller already running may take it first; once it has
    /// waited this long, returned connections go to the queue strictly in order until the queue
    /// is served. This avoids a convoy: with more threads than cores, strict hand-off makes every
    /// checkout wait for a sleeping thread to be scheduled (Go's `sync.Mutex` has the same
    /// starvation mode, with the same 1 ms). `.zero` is strict first-come, first-served always.
    /// An async caller at the head of the queue is always handed the connection directly.
    /// The wait is measured on the pool's ``clock``, so with DBPoolTesting's `ManualClock` the window ends
    /// only when the test advances it. Default 1 ms; >= 0.
    public var overtakeWindow: Duration
    /// Where the blocking driver work of async callers runs: the creator, pre-ping, the reset on
    /// return, close, keep-alive, and the body of an async `withConnection`. Default
    /// ``DriverThreads/automatic``: threads the pool owns, as many as its connections, so that no
    /// driver call of an async caller holds one of Swift's cooperative threads.
    /// ``DriverThreads/inline`` runs them on the caller's thread, for drivers that never block.
    /// Blocking callers' driver calls always run on their own thread. All pool kinds.
    public var driverThreads: DriverThreads

    /// Creates options; every argument has its default.
    public init(
        recycle: Duration? = nil,
        resetOnReturn: ResetOnReturn = .rollback,
        prePing: Bool = false,
        loggingName: String? = nil,
        clock: any PoolClock = SystemClock(),
        logHandler: PoolLogHandler = .standardError(),
        recycleJitter: Double = 0,
        maxUsage: Int? = nil,
        minIdle: Int = 0,
        failFast: Bool = false,
        idleTimeout: Duration? = nil,
        keepAlive: Duration? = nil,
        maxConnecting: Int = 2,
        connectBackoff: ConnectBackoff? = nil,
        leakDetectionThreshold: Duration? = nil,
        overtakeWindow: Duration = .milliseconds(1),
        driverThreads: DriverThreads = .automatic
    ) {
        self.recycle = recycle
        self.resetOnReturn = resetOnReturn
        self.prePing = prePing
        self.loggingName = loggingName
        self.clock = clock
        self.logHandler = logHandler
        self.recycleJitter = recycleJitter
        self.maxUsage = maxUsage
        self.minIdle = minIdle
        self.failFast = failFast
        self.idleTimeout = idleTimeout
        self.keepAlive = keepAlive
        self.maxConnecting = maxConnecting
        self.connectBackoff = connectBackoff
        self.leakDetectionThreshold = leakDetectionThreshold
        self.overtakeWindow = overtakeWindow
        self.driverThreads = driverThreads
    }

    /// Whether any setting needs the background maintenance thread.
    var needsMaintenance: Bool {
        minIdle > 0 || idleTimeout != nil || keepAlive != nil || connectBackoff != nil || leakDetectionThreshold != nil
    }

    /// Throws ``PoolError/invalidArgument(_:)`` for the first value out of range. `queuePool`
    /// says whether the QueuePool-only settings are allowed.
    func validate(queuePool: Bool = false) throws {
        if let recycle, recycle < .zero {
            throw PoolError.invalidArgument("recycle must be nil (never) or a duration >= 0 seconds; got \(recycle)")
        }
        guard recycleJitter.isFinite, (0...0.5).contains(recycleJitter) else {
            throw PoolError.invalidArgument("recycleJitter must be between 0 and 0.5 (a fraction of recycle); got \(recycleJitter)")
        }
        if let maxUsage, maxUsage < 1 {
            throw PoolError.invalidArgument("maxUsage must be nil (unlimited) or >= 1; got \(maxUsage)")
        }
        guard maxConnecting >= 1 else {
            throw PoolError.invalidArgument("maxConnecting must be >= 1; got \(maxConnecting)")
        }
        guard (0...maximumConnectionCount).contains(minIdle) else {
            throw PoolError.invalidArgument("minIdle must be between 0 and \(maximumConnectionCount); got \(minIdle)")
        }
        for (name, value) in [("idleTimeout", idleTimeout), ("keepAlive", keepAlive), ("leakDetectionThreshold", leakDetectionThreshold)] {
            if let value, value <= .zero {
                throw PoolError.invalidArgument("\(name) must be nil (off) or a duration > 0 seconds; got \(value)")
            }
        }
        guard overtakeWindow >= .zero else {
            throw PoolError.invalidArgument("overtakeWindow must be a duration >= 0 seconds (0 is strict first-come, first-served); got \(overtakeWindow)")
        }
        try connectBackoff?.validate()
        try driverThreads.validate()
        if !queuePool {
            let queueOnly: [(String, Bool)] = [
                ("minIdle", minIdle != 0), ("failFast", failFast), ("idleTimeout", idleTimeout != nil),
                ("keepAlive", keepAlive != nil), ("maxConnecting", maxConnecting != 2),
                ("connectBackoff", connectBackoff != nil), ("leakDetectionThreshold", leakDetectionThreshold != nil),
                ("overtakeWindow", overtakeWindow != .milliseconds(1))
            ]
            if let (name, _) = queueOnly.first(where: { $0.1 }) {
                throw PoolError.invalidArgument("\(name) applies to QueuePool only; leave it at its default for this pool kind")
            }
        }
    }
}
