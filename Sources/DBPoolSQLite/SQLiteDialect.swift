import CSQLite3
import DBPool

/// The `Dialect` for ``SQLiteConnection``: transaction reset, close, a `SELECT 1` ping, and
/// recognition of the SQLite errors that mean the database is gone.
///
/// ```swift
/// let pool = try QueuePool(poolSize: 4, dialect: SQLiteDialect()) {
///     try SQLiteConnection(path: "/var/lib/app/data.db")
/// }
/// ```
public struct SQLiteDialect: Dialect {
    /// The connection type this dialect drives.
    public typealias Connection = SQLiteConnection

    /// Creates the dialect. It has no configuration.
    public init() {}

    // Rollback, commit and close are the defaults for a DBAPIConnection (see DBPool's Dialect).

    /// Runs `SELECT 1` (``SQLiteConnection/ping()``: prepared once per connection, so a ping
    /// costs a step, not a parse). Returns `true` if it succeeds, `false` if it fails with an error that
    /// ``isDisconnect(_:connection:)`` recognises (including use of a closed connection), and
    /// rethrows any other error.
    ///
    /// `SELECT 1` does not read the database file, so the ping detects a closed or
    /// (simulated-)disconnected handle, not a damaged or vanished file; those surface as
    /// disconnect errors on the next real statement instead. (A ping that reads the file would
    /// need a shared lock and could wait up to the busy timeout behind a writer.)
    public func doPing(_ connection: SQLiteConnection) throws -> Bool {
        try ping(connection) { try $0.ping() }
    }

    /// Whether `error` means the database behind the connection is gone or unusable:
    ///
    /// - any ``SQLiteError`` raised for use of a closed connection
    ///   (``SQLiteError/connectionClosed``, after ``SQLiteConnection/close()`` or
    ///   ``SQLiteConnection/simulateDisconnect()``);
    /// - `SQLITE_IOERR` and all its extended codes (the file vanished, disk or network I/O failed);
    /// - `SQLITE_CORRUPT`, `SQLITE_NOTADB` (the file is damaged or not a database);
    /// - `SQLITE_CANTOPEN` (the file or its journal cannot be opened any more);
    /// - `SQLITE_MISUSE` when `connection` is given and is closed.
    ///
    /// Everything else, including `SQLITE_BUSY`, `SQLITE_LOCKED`, constraint and syntax errors,
    /// is not a disconnect: the connection stays usable.
    public func isDisconnect(_ error: any Error, connection: SQLiteConnection?) -> Bool {
        guard let error = error as? SQLiteError else { return false }
        if error.connectionClosed { return true }
        switch error.code {
        case SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_CANTOPEN:
            return true
        case SQLITE_MISUSE:
            return connection?.isClosed ?? false
        default:
            return false
        }
    }
}
