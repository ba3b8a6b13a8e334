import CSQLite3

/// An error reported by SQLite, or by ``SQLiteConnection`` when it is used after it was closed.
///
/// `code` is SQLite's primary result code (for example `SQLITE_CONSTRAINT`, 19) and
/// `extendedCode` the extended one (for example `SQLITE_CONSTRAINT_UNIQUE`, 2067); the primary
/// code is always `extendedCode & 0xFF`. `message` is SQLite's own text (`sqlite3_errmsg`).
///
/// ``SQLiteDialect/isDisconnect(_:connection:)`` decides which of these mean the database is
/// gone; see there for the list.
public struct SQLiteError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The primary result code, such as `SQLITE_ERROR` (1) or `SQLITE_BUSY` (5).
    public var code: Int32
    /// The extended result code, such as `SQLITE_IOERR_READ` (266). Equal to `code` when SQLite
    /// reported no extended detail.
    public var extendedCode: Int32
    /// The message SQLite gave, or the adapter's own text for a closed connection.
    public var message: String
    /// `true` when the error was raised because the ``SQLiteConnection`` had been closed (by
    /// ``SQLiteConnection/close()`` or ``SQLiteConnection/simulateDisconnect()``) before this use.
    /// Such an error always counts as a disconnect.
    public var connectionClosed: Bool

    /// Creates an error from a result code and message.
    ///
    /// - Parameters:
    ///   - code: the primary result code; if an extended code is passed here, it is reduced to
    ///     its primary part (`& 0xFF`).
    ///   - extendedCode: the extended result code; defaults to `code`.
    ///   - message: the error text.
    ///   - connectionClosed: whether the error reports use of a closed connection.
    public init(code: Int32, extendedCode: Int32? = nil, message: String, connectionClosed: Bool = false) {
        self.code = code & 0xFF
        self.extendedCode = extendedCode ?? code
        self.message = message
        self.connectionClosed = connectionClosed
    }

    /// `"SQLite error <code> (extended <extendedCode>): <message>"`.
    public var description: String {
        "SQLite error \(code) (extended \(extendedCode)): \(message)"
    }

    /// The error thrown when a closed ``SQLiteConnection`` is used: code `SQLITE_MISUSE`,
    /// ``connectionClosed`` set.
    static func closed(_ reason: String) -> SQLiteError {
        SQLiteError(code: SQLITE_MISUSE, message: reason, connectionClosed: true)
    }
}
