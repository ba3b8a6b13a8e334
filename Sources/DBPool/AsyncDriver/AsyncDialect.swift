/// The driver-facing half of the pool for a driver whose operations are `async` (postgres-nio,
/// mysql-nio, anything on SwiftNIO): the async counterpart of ``Dialect``.
///
/// A pool over an `AsyncDialect` keeps the one lifecycle every pool has (the same state
/// machine, fair queue, events, counters and options): each async call is made from one of the
/// pool's own threads, which waits for it while the call itself runs on Swift's global
/// concurrent executor (see ``PoolOptions/driverThreads``). The caller's task only ever
/// suspends. Make such a pool with the initialisers that take an `AsyncDialect` and an `async`
/// creator, for example ``QueuePool``'s
/// `init(poolSize:maxOverflow:timeout:useLIFO:options:dialect:creator:) async throws`, and use
/// its async API: `try await pool.withConnection { ... }`. <doc:AsyncDrivers> walks through it.
///
/// `Connection` need not be `Sendable`: the pool hands a connection to one holder at a time,
/// and a dialect call on it runs while the pool's thread that made it waits.
public protocol AsyncDialect<Connection>: Sendable {
    /// The driver's connection type.
    associatedtype Connection

    /// Rolls back the connection's current transaction. Used by `resetOnReturn: .rollback`.
    func doRollback(_ connection: Connection) async throws
    /// Commits the connection's current transaction. Used by `resetOnReturn: .commit`.
    func doCommit(_ connection: Connection) async throws
    /// Closes the connection politely.
    func doClose(_ connection: Connection) async throws
    /// Closes the connection after an invalidation, when it may already be broken. The default
    /// calls ``doClose(_:)``.
    func doTerminate(_ connection: Connection) async throws
    /// Checks that the connection is alive: `true` if it is, `false` if it is disconnected;
    /// throws for any other failure. A thrown error that ``isDisconnect(_:connection:)``
    /// recognises counts as `false`.
    func doPing(_ connection: Connection) async throws -> Bool
    /// Whether `error` means the connection (or the database) is gone. Synchronous: it only
    /// classifies. The default is `false`.
    func isDisconnect(_ error: any Error, connection: Connection?) -> Bool
    /// Whether a return's rollback (or commit) has anything to do on this connection: `false`
    /// when the driver knows that no transaction is open, as postgres-nio's protocol state tells.
    /// Synchronous, and cheap: it is asked on every return. With `false` the pool makes no driver
    /// call for the reset, so the return needs none of the pool's threads and completes where
    /// the caller runs. The default is `true` (always reset), as SQLAlchemy does.
    func needsReset(_ connection: Connection) -> Bool
}

extension AsyncDialect {
    /// The default always resets.
    public func needsReset(_ connection: Connection) -> Bool { true }
    /// The default terminate is a plain close.
    public func doTerminate(_ connection: Connection) async throws { try await doClose(connection) }
    /// The default knows no disconnect errors.
    public func isDisconnect(_ error: any Error, connection: Connection?) -> Bool { false }
}
