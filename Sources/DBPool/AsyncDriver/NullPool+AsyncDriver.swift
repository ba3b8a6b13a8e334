/// NullPool over an async driver (an AsyncDialect and an `async` creator): the same pool and
/// lifecycle, with every driver call waited for on the pool's own threads.
extension NullPool {
    /// Creates a NullPool over an async driver, with a creator that takes no argument. The pool
    /// has only the async API: the blocking one throws PoolError/unsupported(_:).
    /// `options.driverThreads` may not be DriverThreads/inline.
    public convenience init(
        options: PoolOptions = PoolOptions(), dialect: some AsyncDialect<Connection>,
        creator: @escaping @Sendable () async throws -> Connection
    ) throws {
        try self.init(
            context: Self.asyncDriverContext(.async(creator), dialect: dialect, options: options))
    }

    /// Creates a NullPool over an async driver, with a creator that receives the record.
    public convenience init(
        options: PoolOptions = PoolOptions(), dialect: some AsyncDialect<Connection>,
        creator: @escaping @Sendable (ConnectionRecord<Connection>) async throws -> Connection
    ) throws {
        try self.init(
            context: Self.asyncDriverContext(.async(creator), dialect: dialect, options: options))
    }
}
