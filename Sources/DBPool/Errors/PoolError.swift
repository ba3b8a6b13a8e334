/// Errors the pool itself raises. Driver and creator errors are passed through unwrapped.
public enum PoolError: Error, CustomStringConvertible, Sendable {
    /// A `connect()` waited `timeout` for a QueuePool at its limit. SQLAlchemy's `TimeoutError`.
    /// `detail` is the pool's state at that moment and, while connects are failing, their last
    /// error: it tells "every connection is busy" from "the database is down". Every timeout the
    /// pool throws sets it. Match the case as `case .timeout` or
    /// `case let .timeout(size, overflow, timeout, _)`.
    case timeout(size: Int, overflow: Int, timeout: Duration, detail: PoolTimeoutDetail? = nil)
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
        case let .timeout(size, overflow, timeout, detail):
            let sentence = "QueuePool limit of size \(size) overflow \(overflow) reached, connection timed out, timeout \(formatSeconds(timeout))"
            guard let detail else { return sentence }
            return sentence + " (\(detail))"
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

/// The state of a QueuePool when a checkout timed out, carried by ``PoolError/timeout(size:overflow:timeout:detail:)``.
/// The shape follows HikariCP's "total=, active=, idle=, waiting=" report.
public struct PoolTimeoutDetail: Sendable, CustomStringConvertible {
    /// Connections checked out (including ones being opened or closed).
    public var checkedOut: Int
    /// Idle connections in the pool.
    public var idle: Int
    /// Other checkouts still waiting.
    public var waiting: Int
    /// Connections being opened.
    public var connecting: Int
    /// The error of the last failed connect, while connects keep failing; `nil` once one succeeds.
    public var lastConnectError: (any Error)?

    /// Creates a detail value.
    public init(checkedOut: Int, idle: Int, waiting: Int, connecting: Int, lastConnectError: (any Error)? = nil) {
        self.checkedOut = checkedOut
        self.idle = idle
        self.waiting = waiting
        self.connecting = connecting
        self.lastConnectError = lastConnectError
    }

    /// `checked out 3, idle 0, waiting 2, connecting 0; ` and the cause: `the database is refusing
    /// connections: <error>` or `every connection is in use`.
    public var description: String {
        let state = "checked out \(checkedOut), idle \(idle), waiting \(waiting), connecting \(connecting)"
        if let lastConnectError {
            return state + "; the database is refusing connections: \(lastConnectError)"
        }
        return state + "; every connection is in use"
    }
}

/// Formats a duration as seconds with two decimals, as SQLAlchemy's `%.2f`.
func formatSeconds(_ duration: Duration) -> String {
    // `components` traps for more seconds than an Int64 holds; so long a duration gets no
    // hundredths worth printing.
    guard duration < .seconds(Int64.max) + .seconds(1), duration > .seconds(Int64.min) - .seconds(1) else {
        return "\(duration / .seconds(1))"
    }
    let (seconds, attoseconds) = duration.components
    // Work in hundredths with round-half-up so that the text never depends on Foundation; in
    // 128 bits, because any Int64 count of seconds times 100 must fit (a timeout may be huge).
    let hundredths = Int128(seconds) * 100 + Int128((attoseconds + 5_000_000_000_000_000) / 10_000_000_000_000_000)
    let whole = hundredths / 100
    let fraction = abs(hundredths % 100)
    return "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
}
