/// The dialect a pool uses when none is given: it forwards rollback, commit and close to the
/// ``DBAPIConnection`` methods of the same name.
///
/// Like SQLAlchemy's `_ConnDialect`, it cannot ping: ``doPing(_:)`` throws
/// ``PoolError/pingNotSupported``, so `prePing: true` needs a real dialect, and a QueuePool
/// refuses `keepAlive` over it (``supportsPing`` is `false`).
public struct DefaultDialect<Connection: DBAPIConnection>: Dialect {
    /// Creates the default dialect.
    public init() {}
    /// `false`: ``doPing(_:)`` always throws.
    public var supportsPing: Bool { false }
    /// Always throws ``PoolError/pingNotSupported``.
    public func doPing(_ connection: Connection) throws -> Bool { throw PoolError.pingNotSupported }
}
