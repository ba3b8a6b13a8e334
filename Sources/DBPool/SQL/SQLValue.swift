/// One value bound to a statement parameter, or read from a result column: the small set of types
/// both bundled adapters (`DBPoolSQLite`, `DBPoolPostgres`) and the test kit's mocks understand.
///
/// The pool itself never looks at values; this type lives in `DBPool` only so that code written
/// against ``SQLExecutor`` runs unchanged on a real adapter and on a mock. It has no SQLAlchemy
/// counterpart (there, values are Python objects handed to the DB-API driver).
///
/// Literals build values, so parameter lists read naturally:
///
/// ```swift
/// try connection.execute("INSERT INTO users (id, name, admin, photo) VALUES (?, ?, ?, ?)",
///                        [42, "alice", true, .bytes([0xFF, 0xD8])])
/// try connection.execute("UPDATE users SET name = ? WHERE id = ?", [.null, 42])
/// try connection.execute("UPDATE users SET email = ? WHERE id = ?", [SQLValue(user.email), 42])  // String?
/// ```
///
/// A value is always sent to the database as a bound parameter, never spliced into SQL text.
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    /// SQL `NULL`.
    case null
    /// A 64-bit signed integer.
    case integer(Int64)
    /// A double-precision floating-point number.
    case double(Double)
    /// Text (UTF-8 on the wire).
    case text(String)
    /// Raw bytes (a BLOB in SQLite, `bytea` in PostgreSQL).
    case bytes([UInt8])
    /// A boolean. SQLite has no boolean type and stores it as the integer 1 or 0.
    case bool(Bool)

    /// Whether this is ``null``.
    public var isNull: Bool { self == .null }

    /// The integer, if this is ``integer(_:)``, or ``bool(_:)`` as 1 or 0 (SQLite stores booleans
    /// that way, so a column read back from SQLite is an integer). `nil` for anything else.
    public var int64: Int64? {
        switch self {
        case let .integer(value): return value
        case let .bool(value): return value ? 1 : 0
        default: return nil
        }
    }

    /// The number, if this is ``double(_:)`` or ``integer(_:)`` (converted). `nil` for anything else.
    public var double: Double? {
        switch self {
        case let .double(value): return value
        case let .integer(value): return Double(value)
        default: return nil
        }
    }

    /// The text, if this is ``text(_:)``. `nil` for anything else (use ``description`` for a
    /// display form of any value).
    public var string: String? {
        if case let .text(value) = self { return value }
        return nil
    }

    /// The bytes, if this is ``bytes(_:)``. `nil` for anything else.
    public var bytes: [UInt8]? {
        if case let .bytes(value) = self { return value }
        return nil
    }

    /// The boolean, if this is ``bool(_:)``, or ``integer(_:)`` 0 or 1 (how SQLite returns a
    /// stored boolean). `nil` for anything else, including other integers.
    public var bool: Bool? {
        switch self {
        case let .bool(value): return value
        case .integer(0): return false
        case .integer(1): return true
        default: return nil
        }
    }

    /// The name of the case (`"null"`, `"integer"`, `"double"`, `"text"`, `"bytes"`, `"bool"`),
    /// for error messages that must not repeat the value itself.
    public var kind: String {
        switch self {
        case .null: return "null"
        case .integer: return "integer"
        case .double: return "double"
        case .text: return "text"
        case .bytes: return "bytes"
        case .bool: return "bool"
        }
    }

    /// A short display form: `NULL`, `42`, `2.5`, `'text'` (quotes doubled inside), `x'ffd8'`,
    /// `true`. For logs and test messages only; never build SQL from it.
    public var description: String {
        switch self {
        case .null: return "NULL"
        case let .integer(value): return String(value)
        case let .double(value): return String(value)
        case let .text(value): return "'" + value.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
        case let .bytes(value):
            let digits = "0123456789abcdef".map { $0 }
            return "x'" + String(value.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }) + "'"
        case let .bool(value): return value ? "true" : "false"
        }
    }
}

// Deliberately not ExpressibleByNilLiteral: a bare `nil` where a `SQLValue?` is expected could
// then silently become `.null` instead of "no value" (Swift discourages it for that reason).
extension SQLValue: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByStringLiteral, ExpressibleByBooleanLiteral
{
    /// An integer literal is ``integer(_:)``.
    public init(integerLiteral value: Int64) { self = .integer(value) }
    /// A floating-point literal is ``double(_:)``.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// A string literal is ``text(_:)``.
    public init(stringLiteral value: String) { self = .text(value) }
    /// `true` and `false` are ``bool(_:)``.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension SQLValue {
    /// Wraps an optional integer: `nil` becomes ``null``.
    public init(_ value: Int?) { self = value.map { .integer(Int64($0)) } ?? .null }
    /// Wraps an optional 64-bit integer: `nil` becomes ``null``.
    public init(_ value: Int64?) { self = value.map { .integer($0) } ?? .null }
    /// Wraps an optional double: `nil` becomes ``null``.
    public init(_ value: Double?) { self = value.map { .double($0) } ?? .null }
    /// Wraps an optional string: `nil` becomes ``null``.
    public init(_ value: String?) { self = value.map { .text($0) } ?? .null }
    /// Wraps optional bytes: `nil` becomes ``null``.
    public init(_ value: [UInt8]?) { self = value.map { .bytes($0) } ?? .null }
    /// Wraps an optional boolean: `nil` becomes ``null``.
    public init(_ value: Bool?) { self = value.map { .bool($0) } ?? .null }
}
