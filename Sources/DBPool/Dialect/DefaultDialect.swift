/// The dialect a pool uses when none is given: it forwards rollback, commit and close to the
/// ``DBAPIConnection`` methods of the same name.
///
/// Like SQLAlchemy's `_ConnDialect`, it cannot ping: ``doPing(_:)`` throws
/// ``PoolError/pingNotSupported``, so `prePing: true` needs a real dialect.
public struct DefaultDialect<Connection: DBAPIConnection>: Dialect {
    /// Creates the default dialect.
    public init() {}
    /// Always throws ``PoolError/pingNotSupported``.
    public func doPing(_ connection: Connection) throws -> Bool { throw PoolError.pingNotSupported }
}
