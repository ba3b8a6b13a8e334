/// One result row with typed values: what ``SQLExecutor/queryRows(_:_:)`` returns.
///
/// Read a column by position (`row[0]`) or by name (`row["name"]`), then take the Swift value
/// with ``SQLValue``'s accessors:
///
/// ```swift
/// for row in try connection.queryRows("SELECT id, name FROM users WHERE admin = ?", [true]) {
///     let id = row[0].int64          // Int64?
///     let name = row["name"]?.string // String?
/// }
/// ```
///
/// Every row of one result shares the same ``columns`` array (Swift copies it lazily).
public struct SQLRow: Sendable, Hashable, CustomStringConvertible {
    /// The column names, in result order. Names can repeat (`SELECT 1 AS a, 2 AS a`); a test
    /// double may leave them empty.
    public var columns: [String]
    /// The values, one per column, in the same order.
    public var values: [SQLValue]

    /// Creates a row. `columns` may be empty (name lookups then find nothing); otherwise it
    /// should have one name per value.
    public init(columns: [String] = [], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    /// The number of values.
    public var count: Int { values.count }

    /// The value at `index` (0-based). Traps when `index` is out of range, as an array does;
    /// use ``value(at:)`` for a checked read.
    public subscript(index: Int) -> SQLValue { values[index] }

    /// The value of the first column called `name`, or `nil` if there is none.
    public subscript(name: String) -> SQLValue? {
        // Optional.none spelled out: a bare `nil` could become SQLValue.null (it is nil-literal convertible).
        guard let index = columns.firstIndex(of: name), index < values.count else { return Optional.none }
        return values[index]
    }

    /// The value at `index`, or `nil` when the row has no such column.
    public func value(at index: Int) -> SQLValue? {
        values.indices.contains(index) ? values[index] : Optional.none
    }

    /// `(name: value, …)`, or `(value, …)` without column names.
    public var description: String {
        let parts = values.enumerated().map { index, value in
            index < columns.count ? "\(columns[index]): \(value)" : "\(value)"
        }
        return "(" + parts.joined(separator: ", ") + ")"
    }
}

/// A connection that runs SQL statements with bound parameters: the common shape of
/// `SQLiteConnection`, `PostgresConnection`, and the test kit's `MockConnection` and
/// `ChaosConnection`.
///
/// Write your data access against it, and the same code runs on a real database in production
/// and on a scripted mock in tests:
///
/// ```swift
/// struct UserRepository<Connection: SQLExecutor> {
///     let pool: any Pool<Connection>
///     func name(of id: Int64) throws -> String? {
///         try pool.withConnection { fairy in
///             guard let db = fairy.dbapiConnection else { throw PoolError.connectionClosed }
///             return try db.queryRows("SELECT name FROM users WHERE id = ?", [.integer(id)]).first?[0].string
///         }
///     }
/// }
/// ```
///
/// Placeholders are the driver's own: `?` or `?NNN` for SQLite, `$1`, `$2`, … for PostgreSQL.
/// Values are always bound, never spliced into the SQL text. This protocol is an addition to
/// SQLAlchemy's pool model (there, statements go through the DB-API cursor, outside the pool).
public protocol SQLExecutor {
    /// Runs SQL text without parameters, discarding any rows. The adapters accept several
    /// `;`-separated statements here; use it for fixed SQL only, never SQL built from values.
    func execute(_ sql: String) throws
    /// Runs SQL text without parameters and returns its rows as text (`NULL` is `nil`).
    func query(_ sql: String) throws -> [[String?]]
    /// Runs one statement with `parameters` bound to its placeholders, discarding any rows.
    func execute(_ sql: String, _ parameters: [SQLValue]) throws
    /// Runs one statement with `parameters` bound and returns its rows as text (`NULL` is `nil`).
    func query(_ sql: String, _ parameters: [SQLValue]) throws -> [[String?]]
    /// Runs one statement with `parameters` bound and returns its rows with typed values.
    func queryRows(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow]
}

extension SQLExecutor {
    /// ``queryRows(_:_:)`` with no parameters.
    public func queryRows(_ sql: String) throws -> [SQLRow] {
        try queryRows(sql, [])
    }
}
