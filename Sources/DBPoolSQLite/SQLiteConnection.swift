import CSQLite3
import DBPool

/// One connection to an SQLite database (a file or `":memory:"`), over the system `libsqlite3`.
///
/// The API is DB-API shaped: ``execute(_:)`` runs SQL without results, ``query(_:)`` returns rows
/// as text, and ``rollback()``, ``commit()`` and ``close()`` make it a `DBAPIConnection` that
/// any pool can manage. ``execute(_:_:)``, ``query(_:_:)`` and ``queryRows(_:_:)`` bind values to
/// `?`/`?NNN` placeholders with `sqlite3_bind_*`, so values never enter the SQL text;
/// ``queryRows(_:_:)`` returns typed `SQLValue`s. It conforms to `SQLExecutor`. SQLite starts a transaction only on an explicit `BEGIN`; outside one,
/// every statement commits on its own (autocommit).
///
/// A connection is not thread-safe: use it from one holder at a time. A pool enforces that by
/// handing it to one checkout at a time. The type is deliberately not `Sendable`.
///
/// Once closed (by ``close()`` or ``simulateDisconnect()``), every other method throws a
/// ``SQLiteError`` with ``SQLiteError/connectionClosed`` set, which
/// ``SQLiteDialect/isDisconnect(_:connection:)`` classifies as a disconnect.
public final class SQLiteConnection: DBAPIConnection {
    /// Why the handle is gone, which decides the text of the error thrown on later use.
    private enum State {
        case open(OpaquePointer)
        case closed
        case disconnected
    }

    private var state: State
    /// `SELECT 1`, prepared on the first ``ping()`` and finalized before the handle is closed.
    private var pingStatement: OpaquePointer?

    /// The path this connection was opened with.
    public let path: String

    /// The default busy timeout: how long a statement waits for another connection's lock.
    public static let defaultBusyTimeout: Duration = .milliseconds(5000)

    /// Opens (creating if needed) the database at `path`.
    ///
    /// - Parameters:
    ///   - path: a file path, `":memory:"` for a private in-memory database, or `""` for a private
    ///     temporary on-disk database. It must not contain a NUL byte.
    ///   - busyTimeout: how long a statement retries while another connection holds a conflicting
    ///     lock before failing with `SQLITE_BUSY` (`sqlite3_busy_timeout`). Defaults to 5 seconds;
    ///     `.zero` fails at once. Values above `Int32.max` milliseconds are treated as that maximum.
    /// - Throws: ``SQLiteError`` if the database cannot be opened (for example `SQLITE_CANTOPEN`),
    ///   or `SQLITE_MISUSE` naming the offset if `path` contains a NUL byte.
    public init(path: String, busyTimeout: Duration = SQLiteConnection.defaultBusyTimeout) throws {
        // A C string ends at the first NUL, so SQLite would silently open a different file.
        if let offset = path.utf8.firstIndex(of: 0).map({ path.utf8.distance(from: path.utf8.startIndex, to: $0) }) {
            throw SQLiteError(
                code: SQLITE_MISUSE,
                message: "path contains a NUL byte at UTF-8 offset \(offset); "
                    + "a SQLite path must not contain NUL")
        }
        self.path = path
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            // sqlite3_open_v2 usually returns a handle even on failure; it carries the message
            // and must be closed.
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let extended = handle.map { sqlite3_extended_errcode($0) } ?? rc
            sqlite3_close_v2(handle)
            throw SQLiteError(code: rc, extendedCode: extended, message: "cannot open \(path): \(message)")
        }
        sqlite3_extended_result_codes(handle, 1)
        let milliseconds = (busyTimeout / .milliseconds(1)).rounded(.down)
        let clamped = Int32(max(0, min(Double(Int32.max), milliseconds)))
        sqlite3_busy_timeout(handle, clamped)
        state = .open(handle)
    }

    deinit {
        if case let .open(handle) = state {
            finalizePing()
            sqlite3_close_v2(handle)
        }
    }

    /// Whether ``close()`` or ``simulateDisconnect()`` has been called.
    public var isClosed: Bool {
        if case .open = state { return false }
        return true
    }

    /// Whether a transaction is open (SQLite is not in autocommit mode). `false` once closed.
    public var inTransaction: Bool {
        guard case let .open(handle) = state else { return false }
        return sqlite3_get_autocommit(handle) == 0
    }

    /// Runs one or more `;`-separated statements, discarding any rows (`sqlite3_exec`).
    ///
    /// Statements run in order and stop at the first failure; earlier ones keep their effect.
    /// To pass values, use ``execute(_:_:)``: never build SQL text from values.
    /// - Throws: ``SQLiteError`` with SQLite's code and message, `SQLITE_MISUSE` if `sql`
    ///   contains a NUL byte, or a closed-connection error.
    public func execute(_ sql: String) throws {
        let handle = try openHandle()
        try Self.rejectNUL(in: sql)
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        defer { sqlite3_free(errorMessage) }
        guard rc == SQLITE_OK else {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            throw SQLiteError(code: rc, extendedCode: sqlite3_extended_errcode(handle), message: message)
        }
    }

    /// Runs `SELECT 1` from a statement prepared once per connection, so each call is a step and
    /// a reset, without parsing SQL again: the liveness check ``SQLiteDialect`` pre-pings with.
    /// - Throws: ``SQLiteError`` with SQLite's code and message, or a closed-connection error.
    public func ping() throws {
        let handle = try openHandle()
        let statement: OpaquePointer
        if let prepared = pingStatement {
            statement = prepared
        } else {
            var prepared: OpaquePointer?
            let rc = sqlite3_prepare_v2(handle, "SELECT 1", -1, &prepared, nil)
            guard rc == SQLITE_OK, let prepared else { throw lastError(handle, rc) }
            pingStatement = prepared
            statement = prepared
        }
        let rc = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard rc == SQLITE_ROW || rc == SQLITE_DONE else { throw lastError(handle, rc) }
    }

    /// Runs the statements in `sql` and returns their rows, each column as text (`NULL` is `nil`).
    ///
    /// Usually `sql` is one `SELECT`. If it holds several statements, all of them run in order and
    /// the rows of every statement are returned one after another. Numbers come back in SQLite's
    /// text form (`1`, `2.5`); blobs as their bytes decoded as UTF-8. To pass values, use
    /// ``query(_:_:)``; for typed values, ``queryRows(_:_:)``.
    /// - Throws: ``SQLiteError`` with SQLite's code and message, `SQLITE_MISUSE` if `sql`
    ///   contains a NUL byte, or a closed-connection error.
    public func query(_ sql: String) throws -> [[String?]] {
        let handle = try openHandle()
        try Self.rejectNUL(in: sql)
        var rows: [[String?]] = []
        try sql.withCString { start in
            // `tail` points into this same buffer, so it stays valid for the whole loop.
            var cursor: UnsafePointer<CChar>? = start
            while let current = cursor, current.pointee != 0 {
                var statement: OpaquePointer?
                var tail: UnsafePointer<CChar>?
                let rc = sqlite3_prepare_v2(handle, current, -1, &statement, &tail)
                // Finalize on every path, including errors from step; finalize(nil) is harmless.
                defer { sqlite3_finalize(statement) }
                guard rc == SQLITE_OK else { throw lastError(handle, rc) }
                cursor = tail
                // A blank or comment-only piece yields no statement.
                guard let statement else { continue }
                rows += try step(statement, handle: handle, read: Self.textColumn)
            }
        }
        return rows
    }

    /// Steps one prepared statement to completion, reading each row's columns with `read`.
    func step<Value>(
        _ statement: OpaquePointer, handle: OpaquePointer,
        read: (OpaquePointer, Int32) -> Value
    ) throws -> [[Value]] {
        let columnCount = sqlite3_column_count(statement)
        var rows: [[Value]] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return rows }
            guard rc == SQLITE_ROW else { throw lastError(handle, rc) }
            var row: [Value] = []
            row.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                row.append(read(statement, column))
            }
            rows.append(row)
        }
    }

    /// A column in SQLite's text form; `nil` for NULL.
    static func textColumn(_ statement: OpaquePointer, _ column: Int32) -> String? {
        if sqlite3_column_type(statement, column) == SQLITE_NULL { return nil }
        // column_text first, then column_bytes, as SQLite documents.
        guard let text = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// Throws `SQLITE_MISUSE` naming the offset when `sql` holds a NUL byte: SQLite would stop
    /// reading at it and silently run only the text before it.
    static func rejectNUL(in sql: String) throws {
        guard let index = sql.utf8.firstIndex(of: 0) else { return }
        let offset = sql.utf8.distance(from: sql.utf8.startIndex, to: index)
        throw SQLiteError(
            code: SQLITE_MISUSE,
            message: "SQL text contains a NUL byte at UTF-8 offset \(offset); "
                + "SQL must not contain NUL (bind such a value as a parameter instead)")
    }

    /// Rolls back the open transaction; does nothing in autocommit mode (no transaction open).
    /// - Throws: ``SQLiteError`` if the rollback fails, or a closed-connection error.
    public func rollback() throws {
        let handle = try openHandle()
        guard sqlite3_get_autocommit(handle) == 0 else { return }
        try execute("ROLLBACK")
    }

    /// Commits the open transaction; does nothing in autocommit mode (no transaction open).
    /// - Throws: ``SQLiteError`` if the commit fails (for example `SQLITE_BUSY` after the busy
    ///   timeout), or a closed-connection error.
    public func commit() throws {
        let handle = try openHandle()
        guard sqlite3_get_autocommit(handle) == 0 else { return }
        try execute("COMMIT")
    }

    /// Closes the connection (`sqlite3_close_v2`). An open transaction is rolled back by SQLite.
    /// Calling it again, or after ``simulateDisconnect()``, does nothing.
    ///
    /// - Throws: ``SQLiteError`` if SQLite reports a failure while closing. The handle is
    ///   released and the connection counts as closed either way.
    public func close() throws {
        guard case let .open(handle) = state else { return }
        state = .closed
        // An unfinalized statement would keep the handle alive as a zombie after close_v2.
        finalizePing()
        let rc = sqlite3_close_v2(handle)
        guard rc == SQLITE_OK else {
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errstr(rc)))
        }
    }

    /// Drops the database handle as if the database had gone away, for chaos testing and demos.
    ///
    /// Afterwards every use except ``close()`` throws a ``SQLiteError`` with code `SQLITE_IOERR`
    /// and ``SQLiteError/connectionClosed`` set, which ``SQLiteDialect`` classifies as a
    /// disconnect, so a pool invalidates the connection and replaces it. ``close()`` stays
    /// harmless. Does nothing on an already closed connection.
    public func simulateDisconnect() {
        guard case let .open(handle) = state else { return }
        state = .disconnected
        finalizePing()
        sqlite3_close_v2(handle)
    }

    private func finalizePing() {
        sqlite3_finalize(pingStatement)
        pingStatement = nil
    }

    /// The live handle, or the closed-connection error.
    func openHandle() throws -> OpaquePointer {
        switch state {
        case let .open(handle):
            return handle
        case .closed:
            throw SQLiteError.closed("connection is closed")
        case .disconnected:
            throw SQLiteError(
                code: SQLITE_IOERR, message: "connection lost (simulated disconnect)",
                connectionClosed: true)
        }
    }

    /// The error SQLite reports for the last failed call on `handle`.
    func lastError(_ handle: OpaquePointer, _ rc: Int32) -> SQLiteError {
        SQLiteError(
            code: rc, extendedCode: sqlite3_extended_errcode(handle),
            message: String(cString: sqlite3_errmsg(handle)))
    }
}
