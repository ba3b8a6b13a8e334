/// An ordinary driver error injected by ``ChaosDBAPI``: the operation failed, but the connection
/// is still usable. ``ChaosDialect`` does not treat it as a disconnect.
public struct ChaosError: Error, Equatable, CustomStringConvertible {
    /// What failed, for example `"connect failed"` or `"rollback failed on #3"`.
    public var message: String
    /// Creates an error with the given text.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { "ChaosError: \(message)" }
}

/// A driver error injected by ``ChaosDBAPI`` that means the connection is gone.
/// ``ChaosDialect/isDisconnect(_:connection:)`` recognises exactly this type.
public struct ChaosDisconnectError: Error, Equatable, CustomStringConvertible {
    /// What failed, for example `"connection #3 lost on rollback"`.
    public var message: String
    /// Creates an error with the given text.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { "ChaosDisconnectError: \(message)" }
}
