/// Errors the pool itself raises. Driver and creator errors are passed through unwrapped.
public enum PoolError: Error, CustomStringConvertible, Sendable {
    /// A `connect()` waited `timeout` for a QueuePool at its limit. SQLAlchemy's `TimeoutError`.
    case timeout(size: Int, overflow: Int, timeout: Duration)
    /// A checkout could not produce a live connection (checkout listeners kept reporting a
    /// disconnect). SQLAlchemy's `InvalidRequestError("This connection is closed")`.
    case connectionClosed
    /// AssertionPool: a second checkout while one is out. `location` is where the first happened.
    case alreadyCheckedOut(location: String?)
    /// AssertionPool: a return when nothing is checked out.
    case notCheckedOut
    /// A configuration value or argument out of range. The message names the parameter, the
    /// value and the accepted range.
    case invalidArgument(String)
    /// `prePing` was requested with a dialect that cannot ping (``DefaultDialect``).
    case pingNotSupported
    /// The pool kind cannot serve this kind of caller, for example SingletonThreadPool, whose
    /// connections belong to threads, called from an async task.
    case unsupported(String)
    /// The pool was shut down with `shutdown(gracePeriod:)`; it hands out no more connections.
    /// `recreate()` makes a new, running pool with the same configuration.
    case shutDown

    /// The message, matching SQLAlchemy's text where SQLAlchemy has one.
    public var description: String {
        switch self {
        case let .timeout(size, overflow, timeout):
            return "QueuePool limit of size \(size) overflow \(overflow) reached, connection timed out, timeout \(formatSeconds(timeout))"
        case .connectionClosed:
            return "This connection is closed"
        case let .alreadyCheckedOut(location):
            if let location { return "connection is already checked out at:\n\(location)" }
            return "connection is already checked out"
        case .notCheckedOut:
            return "connection is not checked out"
        case let .invalidArgument(message):
            return message
        case .pingNotSupported:
            return "The ping feature requires that a dialect is passed to the connection pool."
        case let .unsupported(message):
            return message
        case .shutDown:
            return "The pool has been shut down and hands out no more connections"

        }
    }
}

/// Formats a duration as seconds with two decimals, as SQLAlchemy's `%.2f`.
func formatSeconds(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    // Work in hundredths with round-half-up so that the text never depends on Foundation; in
    // 128 bits, because any Int64 count of seconds times 100 must fit (a timeout may be huge).
    let hundredths = Int128(seconds) * 100 + Int128((attoseconds + 5_000_000_000_000_000) / 10_000_000_000_000_000)
    let whole = hundredths / 100
    let fraction = abs(hundredths % 100)
    return "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
}
