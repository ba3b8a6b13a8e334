import CLibPQ
import DBPool

/// One connection to a PostgreSQL server over the system `libpq`.
///
/// The API is DB-API shaped: ``execute(_:)`` runs SQL without results, ``query(_:)`` returns rows
/// as text, and ``rollback()``, ``commit()`` and ``close()`` make it a `DBAPIConnection` that
/// any pool can manage. The server is in autocommit mode unless a transaction is opened with
/// `BEGIN`; ``rollback()`` and ``commit()`` act only while one is open.
///
/// ``execute(_:)`` and ``query(_:)`` use libpq's simple protocol (`PQexec`, several statements
/// allowed) and return every value in text form. ``execute(_:_:)``, ``query(_:_:)`` and
/// ``queryRows(_:_:)`` bind values to `$1`, `$2`, … with `PQexecParams`, so values never enter the
/// SQL text; ``queryRows(_:_:)`` returns typed `SQLValue`s. Server notices (`NOTICE`,
/// `WARNING`) are discarded rather than printed to standard error.
///
/// A connection is not thread-safe: use it from one holder at a time. A pool enforces that by
/// handing it to one checkout at a time. The type is deliberately not `Sendable`.
///
/// Errors are ``PostgresError``s; see there for the SQLSTATE rules, including the class `08`
/// codes the adapter uses when the connection is broken or closed.
public final class PostgresConnection: DBAPIConnection {
    /// The libpq connection; `nil` once closed.
    private var handle: OpaquePointer?

    /// Connects with a URL (`postgresql://user:password@host:port/dbname?options`) or a libpq
    /// keyword/value string (`host=127.0.0.1 port=5432 user=postgres dbname=postgres`).
    ///
    /// - Throws: ``PostgresError`` with SQLSTATE `08001` (``PostgresError/unableToConnect``) and
    ///   libpq's message if the connection cannot be made (`CONNECTION_BAD`). The half-open libpq
    ///   connection is released before throwing. A `url` holding a NUL byte throws before any
    ///   connection attempt, with `sqlState == nil` and the byte's offset in the message.
    public init(url: String) throws {
        // A C string ends at the first NUL: libpq would silently use a shorter connection string.
        if let offset = Self.nulOffset(in: url) {
            throw PostgresError(
                sqlState: nil,
                message: "the connection string contains a NUL byte at UTF-8 offset "
                    + "\(offset); it must not contain NUL")
        }
        guard let conn = PQconnectdb(url) else {
            throw PostgresError(
                sqlState: PostgresError.unableToConnect,
                message: "out of memory allocating a libpq connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(conn)) ?? "connection failed"
            PQfinish(conn)
            throw PostgresError(sqlState: PostgresError.unableToConnect, message: message)
        }
        // Drop NOTICE/WARNING messages instead of libpq's default of printing them to stderr.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        handle = conn
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// The server process ID serving this connection (`PQbackendPID`); `0` once closed.
    public var backendPID: Int32 {
        guard let handle else { return 0 }
        return PQbackendPID(handle)
    }

    /// Whether ``close()`` has been called.
    public var isClosed: Bool { handle == nil }

    /// Whether libpq considers the connection broken (`PQstatus == CONNECTION_BAD`), for example
    /// after the server terminated it. `false` once closed (closed is not broken).
    public var isBroken: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_BAD
    }

    /// Whether a transaction block is open, including one that failed and awaits a rollback
    /// (`PQTRANS_INTRANS` or `PQTRANS_INERROR`). `false` once closed.
    public var inTransaction: Bool {
        guard let handle else { return false }
        return Self.transactionOpen(handle)
    }

    /// Runs one or more `;`-separated statements, discarding any rows. To pass values, use
    /// ``execute(_:_:)``: never build SQL text from values.
    ///
    /// Several statements run as one simple-protocol query: unless they contain their own
    /// `BEGIN`/`COMMIT`, the server runs them in one implicit transaction, so a failure in any
    /// undoes all of them.
    /// - Throws: ``PostgresError`` with the server's SQLSTATE and message.
    public func execute(_ sql: String) throws {
        _ = try run(sql, collectRows: false)
    }

    /// Runs `sql` and returns its rows, each column as text (`NULL` is `nil`).
    ///
    /// If `sql` holds several statements, the rows of the last one are returned (libpq keeps
    /// only the last result of a simple-protocol query). To pass values, use ``query(_:_:)``; for
    /// typed values, ``queryRows(_:_:)``.
    /// - Throws: ``PostgresError`` with the server's SQLSTATE and message, or one with
    ///   `sqlState == nil` if `sql` contains a NUL byte.
    public func query(_ sql: String) throws -> [[String?]] {
        try run(sql, collectRows: true)
    }

    /// Rolls back the open transaction (also one in the failed state). Does nothing when no
    /// transaction is open, so no "there is no transaction in progress" warning is caused.
    /// - Throws: ``PostgresError``: `08003` if closed, `08006` if the connection is broken
    ///   (so that a pool resetting it learns that it is dead), or the server's error.
    public func rollback() throws {
        let conn = try usableHandle()
        guard Self.transactionOpen(conn) else { return }
        try execute("ROLLBACK")
    }

    /// Commits the open transaction. Does nothing when no transaction is open. In a failed
    /// transaction (`PQTRANS_INERROR`), PostgreSQL turns `COMMIT` into a rollback.
    /// - Throws: ``PostgresError``: `08003` if closed, `08006` if the connection is broken, or
    ///   the server's error.
    public func commit() throws {
        let conn = try usableHandle()
        guard Self.transactionOpen(conn) else { return }
        try execute("COMMIT")
    }

    /// Closes the connection (`PQfinish`); an open transaction is rolled back by the server.
    /// Calling it again does nothing. Never throws.
    public func close() throws {
        guard let conn = handle else { return }
        handle = nil
        PQfinish(conn)
    }

    // MARK: - Internals

    private static func transactionOpen(_ conn: OpaquePointer) -> Bool {
        let status = PQtransactionStatus(conn)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    /// The open handle, or the `08003` error for a closed connection.
    func liveHandle() throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(sqlState: PostgresError.connectionDoesNotExist, message: "connection is closed")
        }
        return handle
    }

    /// The open handle, or `08003` if closed, or `08006` if libpq reports it broken. (A broken
    /// connection's transaction status is unknown, so rollback and commit would otherwise
    /// silently do nothing.)
    private func usableHandle() throws -> OpaquePointer {
        let conn = try liveHandle()
        guard PQstatus(conn) != CONNECTION_BAD else {
            throw PostgresError(
                sqlState: PostgresError.connectionFailure,
                message: Self.trimmed(PQerrorMessage(conn)) ?? "connection is broken")
        }
        return conn
    }

    /// Executes `sql` and converts the result; the `PGresult` is cleared on every path.
    private func run(_ sql: String, collectRows: Bool) throws -> [[String?]] {
        let conn = try liveHandle()
        try Self.rejectNUL(in: sql)
        guard let result = PQexec(conn, sql) else {
            // No result at all: libpq could not send the query or ran out of memory.
            throw Self.connectionError(conn, result: nil)
        }
        defer { PQclear(result) }

        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK:
            return collectRows ? Self.rows(of: result) : []
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return []
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            Self.abandonCopy(conn)
            throw PostgresError(sqlState: nil, message: "COPY is not supported by PostgresConnection")
        default:
            throw Self.connectionError(conn, result: result)
        }
    }

    /// The UTF-8 offset of the first NUL byte in `text`, if any.
    static func nulOffset(in text: String) -> Int? {
        text.utf8.firstIndex(of: 0).map { text.utf8.distance(from: text.utf8.startIndex, to: $0) }
    }

    /// Throws (with `sqlState == nil`, so not a disconnect) when `sql` holds a NUL byte: libpq
    /// would stop reading at it and silently send only the text before it.
    static func rejectNUL(in sql: String) throws {
        guard let offset = nulOffset(in: sql) else { return }
        throw PostgresError(
            sqlState: nil,
            message: "SQL text contains a NUL byte at UTF-8 offset \(offset); "
                + "SQL must not contain NUL (bind such a value as a .bytes parameter instead)")
    }

    /// Reads a tuples result into text rows.
    static func rows(of result: OpaquePointer) -> [[String?]] {
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                if PQgetisnull(result, row, column) != 0 {
                    values.append(nil)
                } else if let value = PQgetvalue(result, row, column) {
                    let length = Int(PQgetlength(result, row, column))
                    values.append(
                        value.withMemoryRebound(to: UInt8.self, capacity: length) {
                            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                        })
                } else {
                    values.append("")
                }
            }
            rows.append(values)
        }
        return rows
    }

    /// Builds the error for a failed command: the server's fields when it sent them, otherwise
    /// libpq's message with `08006` if the connection is now broken.
    static func connectionError(_ conn: OpaquePointer, result: OpaquePointer?) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let result, let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let sqlState = field(Int32(UInt8(ascii: "C")))  // PG_DIAG_SQLSTATE
        let primary = field(Int32(UInt8(ascii: "M")))  // PG_DIAG_MESSAGE_PRIMARY
        let severity =
            field(Int32(UInt8(ascii: "V")))  // PG_DIAG_SEVERITY_NONLOCALIZED
            ?? field(Int32(UInt8(ascii: "S")))  // PG_DIAG_SEVERITY
        let detail = field(Int32(UInt8(ascii: "D")))  // PG_DIAG_MESSAGE_DETAIL
        let message =
            primary
            ?? result.flatMap { trimmed(PQresultErrorMessage($0)) }
            ?? trimmed(PQerrorMessage(conn))
            ?? "unknown libpq error"
        var state = sqlState
        if state == nil, PQstatus(conn) == CONNECTION_BAD {
            state = PostgresError.connectionFailure
        }
        return PostgresError(sqlState: state, message: message, severity: severity, detail: detail)
    }

    /// Leaves a COPY state that `PQexec` entered, so the connection stays usable.
    static func abandonCopy(_ conn: OpaquePointer) {
        _ = PQputCopyEnd(conn, "COPY is not supported by PostgresConnection")
        var buffer: UnsafeMutablePointer<CChar>?
        while PQgetCopyData(conn, &buffer, 0) > 0 {
            PQfreemem(buffer)
            buffer = nil
        }
        while let pending = PQgetResult(conn) {
            let status = PQresultStatus(pending)
            PQclear(pending)
            // A result still in a COPY state means libpq could not leave it; stop rather than spin.
            if PQstatus(conn) == CONNECTION_BAD || status == PGRES_COPY_IN || status == PGRES_COPY_OUT
                || status == PGRES_COPY_BOTH
            {
                break
            }
        }
    }

    /// A C string without its trailing newline, or `nil` if absent or empty.
    static func trimmed(_ text: UnsafePointer<CChar>?) -> String? {
        guard let text else { return nil }
        var string = String(cString: text)
        while let last = string.last, last.isNewline || last == " " { string.removeLast() }
        return string.isEmpty ? nil : string
    }
}
