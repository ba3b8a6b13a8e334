/// Settings shared by every pool kind. The defaults are SQLAlchemy's.
///
/// Values are checked when a pool is created: a pool initialiser throws
/// ``PoolError/invalidArgument(_:)`` for a value out of range, naming the parameter, the value and
/// the accepted range. Nothing is clamped.
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

    /// Creates options; every argument has SQLAlchemy's default.
    public init(
        recycle: Duration? = nil,
        resetOnReturn: ResetOnReturn = .rollback,
        prePing: Bool = false,
        loggingName: String? = nil,
        clock: any PoolClock = SystemClock(),
        logHandler: PoolLogHandler = .standardError()
    ) {
        self.recycle = recycle
        self.resetOnReturn = resetOnReturn
        self.prePing = prePing
        self.loggingName = loggingName
        self.clock = clock
        self.logHandler = logHandler
    }

    /// Throws ``PoolError/invalidArgument(_:)`` for the first value out of range.
    func validate() throws {
        if let recycle, recycle < .zero {
            throw PoolError.invalidArgument(
                "recycle must be nil (never) or a duration >= 0 seconds; got \(recycle)")
        }
    }
}
