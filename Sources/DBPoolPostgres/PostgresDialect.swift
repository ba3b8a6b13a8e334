import DBPool

/// The `Dialect` for ``PostgresConnection``: transaction reset, close, a `SELECT 1` ping, and
/// recognition of the errors that mean the server connection is gone.
///
/// ```swift
/// let pool = try QueuePool(poolSize: 5, options: PoolOptions(prePing: true), dialect: PostgresDialect()) {
///     try PostgresConnection(url: "postgresql://app@127.0.0.1:5432/app")
/// }
/// ```
public struct PostgresDialect: Dialect {
    /// The connection type this dialect drives.
    public typealias Connection = PostgresConnection

    /// SQLSTATEs outside class `08` that mean the server ended the session:
    /// `57P01` admin_shutdown (for example `pg_terminate_backend` or a fast shutdown),
    /// `57P02` crash_shutdown, `57P03` cannot_connect_now (the server is starting or stopping).
    public static let disconnectSQLStates: Set<String> = ["57P01", "57P02", "57P03"]

    /// Creates the dialect. It has no configuration.
    public init() {}

    // Rollback, commit and close are the defaults for a DBAPIConnection (see DBPool's Dialect).

    /// Runs `SELECT 1`. Returns `true` if it succeeds, `false` if it fails with an error that
    /// ``isDisconnect(_:connection:)`` recognises, and rethrows any other error.
    public func doPing(_ connection: PostgresConnection) throws -> Bool {
        // execute, not query: nothing to read back, so no rows to build.
        try ping(connection) { try $0.execute("SELECT 1") }
    }

    /// Whether `error` means the connection is gone. True when any of these holds:
    ///
    /// - `connection` is given and libpq reports it broken (`PQstatus == CONNECTION_BAD`,
    ///   ``PostgresConnection/isBroken``), whatever the error;
    /// - `error` is a ``PostgresError`` whose SQLSTATE is in class `08` (connection exception,
    ///   including the `08006`/`08001`/`08003` the adapter sets itself, see ``PostgresError``);
    /// - its SQLSTATE is `57P01`, `57P02` or `57P03` (``disconnectSQLStates``).
    ///
    /// Everything else (syntax errors, constraint violations, `57014` query_canceled, …) leaves
    /// the connection usable and is not a disconnect.
    public func isDisconnect(_ error: any Error, connection: PostgresConnection?) -> Bool {
        if let connection, connection.isBroken { return true }
        guard let error = error as? PostgresError, let sqlState = error.sqlState else { return false }
        return sqlState.hasPrefix("08") || Self.disconnectSQLStates.contains(sqlState)
    }
}
