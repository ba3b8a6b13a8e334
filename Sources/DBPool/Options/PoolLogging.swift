/// The severity of a pool log message. `info` and `debug` are SQLAlchemy's `echo=True` and
/// `echo="debug"`; `warning` and `error` report problems the pool recovered from.
public enum PoolLogLevel: Int, Sendable, Comparable, CustomStringConvertible {
    /// Per-checkout detail: checked out, returned, reset.
    case debug = 0
    /// Lifecycle: connections created, closed, invalidated, pool disposed.
    case info = 1
    /// Something was wrong but the pool recovered: a fairy dropped without `close()`, an
    /// invalidation of a closed connection, a double check-in.
    case warning = 2
    /// An error the pool swallowed to keep going: a failed reset, a failed close.
    case error = 3

    /// Orders levels by severity.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `debug`, `info`, `warning` or `error`.
    public var description: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .warning: "warning"
        case .error: "error"
        }
    }
}

/// One log message from a pool.
public struct PoolLogMessage: Sendable {
    /// How severe it is.
    public var level: PoolLogLevel
    /// The text.
    public var message: String
    /// The pool's `loggingName`, or its kind (`"QueuePool"`) when it has none.
    public var poolName: String
    /// The error involved, if any.
    public var error: (any Error)?

    /// Creates a message.
    public init(level: PoolLogLevel, message: String, poolName: String, error: (any Error)? = nil) {
        self.level = level
        self.message = message
        self.poolName = poolName
        self.error = error
    }
}

/// A zero-dependency log handler: a minimum level and a closure that receives every message at
/// or above it. Messages below `level` are never formatted, so debug logging costs one integer
/// comparison when it is off.
///
/// Bridge to swift-log (see the README) by forwarding each ``PoolLogMessage`` to a `Logger`.
public struct PoolLogHandler: Sendable {
    /// The lowest level delivered.
    public var level: PoolLogLevel
    /// Receives each message at or above ``level``. Called on the thread that logs, so it should
    /// be quick and thread-safe.
    public var emit: @Sendable (PoolLogMessage) -> Void

    /// Creates a handler.
    public init(level: PoolLogLevel, emit: @escaping @Sendable (PoolLogMessage) -> Void) {
        self.level = level
        self.emit = emit
    }

    /// Writes messages at or above `level` to standard error, one line each. The default handler
    /// uses level `.warning`, so a healthy pool prints nothing.
    public static func standardError(level: PoolLogLevel = .warning) -> PoolLogHandler {
        PoolLogHandler(level: level) { message in
            var line = "[\(message.poolName)] \(message.level): \(message.message)"
            if let error = message.error { line += " (\(error))" }
            line += "\n"
            writeToStandardError(line)
        }
    }

    /// Drops every message.
    public static let disabled = PoolLogHandler(level: .error) { _ in }

    /// Whether a message at `level` would be delivered.
    @inlinable public func isEnabled(_ level: PoolLogLevel) -> Bool { level >= self.level }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

func writeToStandardError(_ text: String) {
    var text = text
    text.withUTF8 { buffer in
        _ = write(2, buffer.baseAddress, buffer.count)
    }
}
