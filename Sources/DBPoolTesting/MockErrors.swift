/// An ordinary driver error that does **not** mean the connection is gone: SQLAlchemy's test
/// `MockError`.
///
/// ``MockDialect`` does not treat it as a disconnect, so a pool that meets it during a reset or a
/// ping should propagate it (or log it) rather than invalidate the connection.
///
/// ```swift
/// conn.failRollback = .error
/// XCTAssertThrowsError(try conn.rollback()) { XCTAssertEqual($0 as? MockError, MockError(
///     "something broke on rollback but we didn't lose the connection")) }
/// ```
public struct MockError: Error, Equatable, CustomStringConvertible {
    /// The error text.
    public var message: String

    /// Creates an error with the given text.
    public init(_ message: String) {
        self.message = message
    }

    /// The message itself, so `"\(error)"` reads like the Python `str(e)`.
    public var description: String { message }
}

/// A driver error that means the connection (or the whole database) is gone: SQLAlchemy's test
/// `MockDisconnect`.
///
/// ``MockDialect/isDisconnect(_:connection:)`` answers `true` for exactly this type, so a pool
/// that meets it should invalidate the connection.
public struct MockDisconnectError: Error, Equatable, CustomStringConvertible {
    /// The error text, for example `"Lost the DB connection on rollback"`.
    public var message: String

    /// Creates a disconnect error with the given text.
    public init(_ message: String) {
        self.message = message
    }

    /// The message itself, so `"\(error)"` reads like the Python `str(e)`.
    public var description: String { message }
}

/// How an operation that a test has switched to fail should fail.
///
/// Set it on one of ``MockConnection``'s switches, such as ``MockConnection/failRollback``;
/// `nil` (the default) means the operation works.
public enum MockFailure: Sendable, Equatable {
    /// Fail as a lost connection: throw ``MockDisconnectError`` (or, for a ping, answer
    /// "not alive").
    case disconnect
    /// Fail with an ordinary driver error: throw ``MockError``. The connection stays usable.
    case error
}
