import CSQLite3
import DBPool

/// SQLite's `SQLITE_TRANSIENT`: tells `sqlite3_bind_*` to copy the value before returning, so the
/// Swift buffer it came from may go away. The C macro is a cast of -1 that Swift cannot import.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension SQLiteConnection: SQLExecutor {
    /// Runs one statement with `parameters` bound to its placeholders, discarding any rows.
    ///
    /// Placeholders are `?` (numbered left to right), `?NNN` (an explicit 1-based position) or
    /// SQLite's named forms (`:name`, `@name`, `$name`, bound by their position). Values go
    /// through `sqlite3_bind_*`; they are never spliced into the SQL text, so a value such as
    /// `'); DROP TABLE users; --` is stored as that text.
    ///
    /// | `SQLValue` | bound as |
    /// |---|---|
    /// | `.integer` | `sqlite3_bind_int64` |
    /// | `.double` | `sqlite3_bind_double` |
    /// | `.text` | `sqlite3_bind_text` (UTF-8; may contain NUL) |
    /// | `.bytes` | `sqlite3_bind_blob` (empty: a zero-length blob, not NULL) |
    /// | `.bool` | `sqlite3_bind_int64` with 1 or 0 (SQLite has no boolean type) |
    /// | `.null` | `sqlite3_bind_null` |
    ///
    /// - Parameters:
    ///   - sql: exactly one statement (a trailing `;`, blanks and comments are fine). Use
    ///     ``execute(_:)`` for a script of several statements without parameters.
    ///   - parameters: one value per placeholder position. With `?NNN` the statement has as many
    ///     positions as its largest `NNN`.
    /// - Throws: ``SQLiteError``: `SQLITE_RANGE` naming both counts when `parameters` does not
    ///   have one value per position; `SQLITE_MISUSE` if `sql` holds a NUL byte or more than one
    ///   statement; SQLite's own error if the statement fails (for example
    ///   `SQLITE_CONSTRAINT_DATATYPE` when a `STRICT` table rejects a value's type), with the
    ///   kinds of the bound values appended (`?1 text, ?2 integer`; never the values themselves).
    public func execute(_ sql: String, _ parameters: [SQLValue]) throws {
        _ = try run(sql, parameters, read: { _, _ in () })
    }

    /// Runs one statement with `parameters` bound (as in ``execute(_:_:)``) and returns its rows
    /// as text, exactly as ``query(_:)`` does: numbers in SQLite's text form, `NULL` as `nil`.
    /// - Throws: the errors of ``execute(_:_:)``.
    public func query(_ sql: String, _ parameters: [SQLValue]) throws -> [[String?]] {
        try run(sql, parameters, read: Self.textColumn).rows
    }

    /// Runs one statement with `parameters` bound (as in ``execute(_:_:)``) and returns its rows
    /// with typed values, by each value's storage class: `INTEGER` as `.integer`, `REAL` as
    /// `.double`, `TEXT` as `.text`, `BLOB` as `.bytes`, `NULL` as `.null`. SQLite stores
    /// booleans as integers, so they come back as `.integer(1)` or `.integer(0)`;
    /// `SQLValue/bool` reads those as `true` and `false`. Rows carry the column names.
    /// - Throws: the errors of ``execute(_:_:)``.
    public func queryRows(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow] {
        let (columns, rows) = try run(sql, parameters, read: Self.typedColumn)
        return rows.map { SQLRow(columns: columns, values: $0) }
    }

    // MARK: Internals

    /// Prepares the single statement in `sql`, binds `parameters`, steps it to the end, and
    /// returns the column names and rows.
    private func run<Value>(
        _ sql: String, _ parameters: [SQLValue],
        read: (OpaquePointer, Int32) -> Value
    ) throws -> (columns: [String], rows: [[Value]]) {
        let handle = try openHandle()
        try Self.rejectNUL(in: sql)
        return try sql.withCString { start -> (columns: [String], rows: [[Value]]) in
            var prepared: OpaquePointer?
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v2(handle, start, -1, &prepared, &tail)
            defer { sqlite3_finalize(prepared) }
            guard rc == SQLITE_OK else { throw lastError(handle, rc) }
            guard let statement = prepared else {
                throw SQLiteError(code: SQLITE_MISUSE, message: "the SQL text holds no statement")
            }
            try Self.rejectSecondStatement(handle, tail)
            try bind(parameters, to: statement)
            let columns = (0..<sqlite3_column_count(statement)).map { column in
                sqlite3_column_name(statement, column).map { String(cString: $0) } ?? ""
            }
            do {
                return (columns, try step(statement, handle: handle, read: read))
            } catch var error as SQLiteError where !parameters.isEmpty {
                error.message += " (bound: " + Self.kinds(parameters) + ")"
                throw error
            }
        }
    }

    /// Throws when anything but blanks and comments follows the first statement: binding values
    /// to one statement of a script would be ambiguous, and silently ignoring the rest is worse.
    private static func rejectSecondStatement(_ handle: OpaquePointer, _ tail: UnsafePointer<CChar>?) throws {
        guard let tail, tail.pointee != 0 else { return }
        var next: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, tail, -1, &next, nil)
        sqlite3_finalize(next)
        // A later statement that does not even compile is still a second statement.
        if rc != SQLITE_OK || next != nil {
            throw SQLiteError(
                code: SQLITE_MISUSE,
                message: "the SQL text holds more than one statement; "
                    + "execute(_:_:), query(_:_:) and queryRows(_:_:) take exactly one (use execute(_:) for a script)")
        }
    }

    private func bind(_ parameters: [SQLValue], to statement: OpaquePointer) throws {
        let expected = Int(sqlite3_bind_parameter_count(statement))
        guard parameters.count == expected else {
            let positions =
                expected == 0
                ? "no placeholders"
                : expected == 1
                    ? "1 placeholder (?1)"
                    : "\(expected) placeholder positions (?1…?\(expected))"
            throw SQLiteError(
                code: SQLITE_RANGE,
                message: "wrong number of parameters: the statement has "
                    + "\(positions), got \(parameters.count) value\(parameters.count == 1 ? "" : "s")")
        }
        for (offset, value) in parameters.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null:
                rc = sqlite3_bind_null(statement, index)
            case let .integer(number):
                rc = sqlite3_bind_int64(statement, index, number)
            case let .double(number):
                rc = sqlite3_bind_double(statement, index, number)
            case let .bool(flag):
                rc = sqlite3_bind_int64(statement, index, flag ? 1 : 0)
            case let .text(text):
                var text = text
                rc = text.withUTF8 { buffer in
                    // An empty buffer may have no address, and a nil pointer would bind NULL.
                    guard let base = buffer.baseAddress else { return sqlite3_bind_text(statement, index, "", 0, transient) }
                    return base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                        sqlite3_bind_text(statement, index, $0, Int32(buffer.count), transient)
                    }
                }
            case let .bytes(bytes):
                rc = bytes.withUnsafeBytes { buffer in
                    guard let base = buffer.baseAddress else { return sqlite3_bind_zeroblob(statement, index, 0) }
                    return sqlite3_bind_blob(statement, index, base, Int32(buffer.count), transient)
                }
            }
            guard rc == SQLITE_OK else {
                // Only SQLITE_TOOBIG (a value over SQLite's length limit) or SQLITE_NOMEM are expected.
                let handle = sqlite3_db_handle(statement)
                let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
                throw SQLiteError(code: rc, message: "cannot bind parameter ?\(index) (\(value.kind)): \(message)")
            }
        }
    }

    /// A column as a typed value, by its storage class.
    static func typedColumn(_ statement: OpaquePointer, _ column: Int32) -> SQLValue {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT:
            return .double(sqlite3_column_double(statement, column))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let base = sqlite3_column_blob(statement, column) else { return .bytes([]) }
            return .bytes(Array(UnsafeRawBufferPointer(start: base, count: count)))
        case SQLITE_NULL:
            return .null
        default:
            return .text(textColumn(statement, column) ?? "")
        }
    }

    /// `?1 text, ?2 integer`: the kinds of the bound values, without the values (they may be secret).
    static func kinds(_ parameters: [SQLValue]) -> String {
        parameters.enumerated().map { "?\($0.offset + 1) \($0.element.kind)" }.joined(separator: ", ")
    }
}
