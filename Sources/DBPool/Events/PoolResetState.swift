/// What the `reset` event is told about the return in progress. SQLAlchemy's `PoolResetState`.
public struct PoolResetState: Sendable, Equatable {
    /// The caller already ended the transaction (SQLAlchemy's "special close"), so the pool skips
    /// its rollback. A commit is still issued in `.commit` mode.
    public var transactionWasReset: Bool
    /// The connection is about to be discarded rather than pooled (a detached fairy is closing).
    public var terminateOnly: Bool
    /// Always `true` in this library: there is no garbage-collector thread to make the reset unsafe.
    public var asyncioSafe: Bool

    /// Creates a reset state.
    public init(transactionWasReset: Bool, terminateOnly: Bool, asyncioSafe: Bool) {
        self.transactionWasReset = transactionWasReset
        self.terminateOnly = terminateOnly
        self.asyncioSafe = asyncioSafe
    }
}
