/// Raised (by a checkout listener, or by the pool after a failed pre-ping) to say that the
/// connection just checked out is dead. The pool invalidates it, reconnects, and tries again.
///
/// With `invalidatePool: true` (SQLAlchemy's `InvalidatePoolError`) every connection created
/// before this one is considered stale too.
public struct DisconnectionError: Error, CustomStringConvertible {
    /// Whether the whole pool's older connections should be invalidated too.
    public var invalidatePool: Bool
    /// The error that revealed the disconnect, if any.
    public var underlying: (any Error)?

    /// Creates a disconnection error.
    public init(invalidatePool: Bool = false, underlying: (any Error)? = nil) {
        self.invalidatePool = invalidatePool
        self.underlying = underlying
    }

    /// A short description, naming the underlying error when there is one.
    public var description: String {
        let kind = invalidatePool ? "InvalidatePoolError" : "DisconnectionError"
        if let underlying { return "\(kind): \(underlying)" }
        return kind
    }
}
