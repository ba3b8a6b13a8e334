import DBPool

/// One statement a ``MockConnection`` (or a ``ChaosConnection``) was asked to run, as recorded
/// for assertions: which method, the SQL text, the bound values, and which connection ran it.
///
/// ```swift
/// XCTAssertEqual(script.statements.map(\.sql), ["BEGIN", "UPDATE users SET name = ? WHERE id = ?", "COMMIT"])
/// XCTAssertEqual(script.statements[1].parameters, ["bob", 7])
/// ```
public struct MockStatement: Sendable, Hashable, CustomStringConvertible {
    /// Which method received the statement.
    public enum Kind: String, Sendable, Hashable {
        /// `execute(_:)` or `execute(_:_:)`.
        case execute
        /// `query(_:)`, `query(_:_:)` or `queryRows(_:_:)`.
        case query
    }

    /// Which method received the statement.
    public var kind: Kind
    /// The SQL text, exactly as passed.
    public var sql: String
    /// The bound values, in placeholder order; empty for the text-only methods.
    public var parameters: [SQLValue]
    /// The ``MockConnection/id`` (or ``ChaosConnection/id``) of the connection that ran it.
    public var connectionID: Int

    /// Creates a statement record (to build expected values in assertions).
    public init(kind: Kind, sql: String, parameters: [SQLValue] = [], connectionID: Int) {
        self.kind = kind
        self.sql = sql
        self.parameters = parameters
        self.connectionID = connectionID
    }

    /// `execute(<sql>) [values]` (values left out when there are none).
    public var description: String {
        "\(kind.rawValue)(\(sql))" + (parameters.isEmpty ? "" : " \(parameters)")
    }
}

/// Which statements a ``MockScript`` rule applies to.
///
/// ```swift
/// .exact("SELECT name FROM users WHERE id = ?")   // the whole SQL text, character for character
/// .prefix("INSERT INTO audit")                    // text starting with this
/// .matching { $0.sql.contains("users") && $0.parameters.first == 7 }
/// .any                                            // every statement
/// ```
public struct MockStatementMatcher: Sendable, CustomStringConvertible {
    private let test: @Sendable (MockStatement) -> Bool
    /// How the matcher was made, for messages: `exact("…")`, `prefix("…")`, `matching(…)`, `any`.
    public let description: String

    private init(_ description: String, _ test: @escaping @Sendable (MockStatement) -> Bool) {
        self.description = description
        self.test = test
    }

    /// Statements whose SQL text equals `sql` exactly (no trimming, case-sensitive).
    public static func exact(_ sql: String) -> MockStatementMatcher {
        MockStatementMatcher("exact(\"\(sql)\")") { $0.sql == sql }
    }

    /// Statements whose SQL text starts with `prefix` (case-sensitive).
    public static func prefix(_ prefix: String) -> MockStatementMatcher {
        MockStatementMatcher("prefix(\"\(prefix)\")") { $0.sql.hasPrefix(prefix) }
    }

    /// Statements for which `predicate` returns `true`. It sees the SQL, the values, the method
    /// and the connection; it runs under the script's lock, so it must not call back into the
    /// script or a connection.
    public static func matching(_ predicate: @escaping @Sendable (MockStatement) -> Bool) -> MockStatementMatcher {
        MockStatementMatcher("matching(…)", predicate)
    }

    /// Every statement.
    public static var any: MockStatementMatcher { MockStatementMatcher("any") { _ in true } }

    /// Whether `statement` matches.
    public func matches(_ statement: MockStatement) -> Bool { test(statement) }
}
