import DBPool

/// The `Dialect` for ``ChaosConnection``: rollback, commit, close and terminate call the
/// connection's methods, the ping calls ``ChaosConnection/ping()``, and ``isDisconnect(_:connection:)``
/// recognises ``ChaosDisconnectError``.
///
/// ```swift
/// let pool = try QueuePool(options: PoolOptions(prePing: true), dialect: ChaosDialect(),
///                          creator: chaos.creator())
/// ```
public struct ChaosDialect: Dialect {
    /// Creates the dialect.
    public init() {}
    /// Calls ``ChaosConnection/rollback()``.
    public func doRollback(_ connection: ChaosConnection) throws { try connection.rollback() }
    /// Calls ``ChaosConnection/commit()``.
    public func doCommit(_ connection: ChaosConnection) throws { try connection.commit() }
    /// Calls ``ChaosConnection/close()``.
    public func doClose(_ connection: ChaosConnection) throws { try connection.close() }
    /// Calls ``ChaosConnection/close()``: a fake connection has no harder way to close.
    public func doTerminate(_ connection: ChaosConnection) throws { try connection.close() }
    /// Calls ``ChaosConnection/ping()``.
    public func doPing(_ connection: ChaosConnection) throws -> Bool { try connection.ping() }
    /// `true` exactly for ``ChaosDisconnectError``.
    public func isDisconnect(_ error: any Error, connection: ChaosConnection?) -> Bool {
        error is ChaosDisconnectError
    }
}
