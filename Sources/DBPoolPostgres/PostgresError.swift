/// An error from PostgreSQL (reported by the server or by libpq), carrying its SQLSTATE.
///
/// ### SQLSTATE rules
///
/// - Errors the server reports carry the server's SQLSTATE and primary message, for example
///   `42P01` ("relation \"nope\" does not exist") or `42601` (syntax error).
/// - When the **connection is broken** and libpq reports the failure itself (for example "server
///   closed the connection unexpectedly"), there is no server SQLSTATE. The adapter then uses a
///   class `08` (connection exception) code, so that the error alone says "disconnect", even
///   where no connection is at hand:
///   - ``connectionFailure`` (`08006`): the connection broke while in use (libpq status
///     `CONNECTION_BAD` after the failure);
///   - ``unableToConnect`` (`08001`): ``PostgresConnection/init(url:)`` could not connect;
///   - ``connectionDoesNotExist`` (`08003`): the ``PostgresConnection`` was already closed.
/// - Other client-side failures that leave the connection usable have `sqlState == nil`.
///
/// ``PostgresDialect/isDisconnect(_:connection:)`` treats class `08` and `57P01`–`57P03` as
/// disconnects.
public struct PostgresError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The five-character SQLSTATE, or `nil` for a client-side error that has none.
    public var sqlState: String?
    /// The primary message: the server's text, or libpq's for client-side errors.
    public var message: String
    /// The severity the server gave (`ERROR`, `FATAL`, `PANIC`), if any.
    public var severity: String?
    /// The server's optional detail text, if any.
    public var detail: String?

    /// `08006` connection_failure: the connection broke while in use. Set by the adapter when
    /// libpq reports a broken connection without a server SQLSTATE.
    public static let connectionFailure = "08006"
    /// `08001` sqlclient_unable_to_establish_sqlconnection: connecting failed.
    public static let unableToConnect = "08001"
    /// `08003` connection_does_not_exist: the connection had been closed before this use.
    public static let connectionDoesNotExist = "08003"

    /// Creates an error with a SQLSTATE and message.
    public init(sqlState: String?, message: String) {
        self.sqlState = sqlState
        self.message = message
    }

    /// Creates an error with every field.
    public init(sqlState: String?, message: String, severity: String?, detail: String?) {
        self.sqlState = sqlState
        self.message = message
        self.severity = severity
        self.detail = detail
    }

    /// `"<severity> <sqlState>: <message>"`, followed by `" (DETAIL: …)"` when there is a detail.
    /// Missing parts are left out.
    public var description: String {
        var text = "PostgresError"
        if let severity { text += " \(severity)" }
        if let sqlState { text += " \(sqlState)" }
        text += ": \(message)"
        if let detail { text += " (DETAIL: \(detail))" }
        return text
    }
}
