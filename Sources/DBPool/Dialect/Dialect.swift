/// The driver-facing half of the pool: how to roll back, commit, close, terminate and ping one
/// driver connection, and how to recognise an error that means the connection is gone.
///
/// This is SQLAlchemy's `Dialect` pool surface (`do_rollback`, `do_commit`, `do_close`,
/// `do_terminate`, `do_ping`, `is_disconnect`) reduced to what the pool needs. All calls are
/// synchronous, as in DB-API, and run on the thread (or task) that is doing the checkout or return.
///
/// `Connection` need not be `Sendable`: the pool hands a connection to one holder at a time, and
/// only that holder, or the pool while the connection is idle, calls the dialect on it.
public protocol Dialect<Connection>: Sendable {
    /// The driver's connection type.
    associatedtype Connection

    /// Rolls back the connection's current transaction. Used by `resetOnReturn: .rollback`.
    func doRollback(_ connection: Connection) throws
    /// Commits the connection's current transaction. Used by `resetOnReturn: .commit`.
    func doCommit(_ connection: Connection) throws
    /// Closes the connection politely. Used by `dispose()`, overflow discards, recycling and NullPool.
    func doClose(_ connection: Connection) throws
    /// Closes the connection after an invalidation, when it may already be broken.
    /// The default calls ``doClose(_:)``.
    func doTerminate(_ connection: Connection) throws
    /// Checks that the connection is alive. Returns `true` if it is, `false` if it is disconnected;
    /// throws for any other failure. An error thrown here that ``isDisconnect(_:connection:)``
    /// recognises counts as a `false` answer.
    func doPing(_ connection: Connection) throws -> Bool
    /// Whether ``doPing(_:)`` can answer at all. `false` says it always throws
    /// ``PoolError/pingNotSupported``; a QueuePool then rejects `keepAlive`, which would
    /// otherwise take every unanswered ping for a dead connection and replace it. The default is
    /// `true`; ``DefaultDialect`` says `false`.
    var supportsPing: Bool { get }
    /// Whether `error` means the connection (or the database) is gone. The default is `false`.
    func isDisconnect(_ error: any Error, connection: Connection?) -> Bool
}

extension Dialect {
    /// The default terminate is a plain close, as in SQLAlchemy's stub dialect.
    public func doTerminate(_ connection: Connection) throws { try doClose(connection) }
    /// The default knows no disconnect errors.
    public func isDisconnect(_ error: any Error, connection: Connection?) -> Bool { false }
    /// A dialect that implements ``doPing(_:)`` is taken to be able to ping.
    public var supportsPing: Bool { true }
}

extension Dialect where Connection: DBAPIConnection {
    /// Calls `connection.rollback()`: the default for a ``DBAPIConnection``.
    public func doRollback(_ connection: Connection) throws { try connection.rollback() }
    /// Calls `connection.commit()`: the default for a ``DBAPIConnection``.
    public func doCommit(_ connection: Connection) throws { try connection.commit() }
    /// Calls `connection.close()`: the default for a ``DBAPIConnection``.
    public func doClose(_ connection: Connection) throws { try connection.close() }
}

extension Dialect {
    /// The usual body of ``doPing(_:)``: runs `probe` (a trivial statement) and answers `true` if
    /// it succeeds, `false` if it throws an error that ``isDisconnect(_:connection:)``
    /// recognises; any other error is rethrown.
    ///
    /// ```swift
    /// func doPing(_ c: MyConnection) throws -> Bool { try ping(c) { try $0.execute("SELECT 1") } }
    /// ```
    public func ping(_ connection: Connection, by probe: (Connection) throws -> Void) throws -> Bool {
        do {
            try probe(connection)
            return true
        } catch {
            if isDisconnect(error, connection: connection) { return false }
            throw error
        }
    }
}
