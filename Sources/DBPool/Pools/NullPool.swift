import Synchronization

/// A pool that pools nothing: every checkout opens a new connection and every return closes it
/// (`reset`, rollback, `checkin`, `close`). Useful when something else pools, or for
/// short-lived programs. SQLAlchemy's `NullPool`.
public final class NullPool<Connection>: Pool, SimplePoolKind {
    @usableFromInline let context: PoolContext<Connection>
    /// Connections checked out and not yet returned (for shutdown's grace period).
    private let lent = Atomic<Int>(0)

    static var kindName: String { "NullPool" }

    init(context: PoolContext<Connection>) throws {
        try context.options.validate()
        self.context = context
    }

    /// Creates a NullPool over `dialect`, with a creator that takes no argument.
    public convenience init(
        options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable () throws -> Connection
    ) throws {
        try self.init(context: Self.makeContext(.plain(creator), dialect: dialect, options: options))
    }

    /// Creates a NullPool over `dialect`, with a creator that receives the record.
    public convenience init(
        options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection
    ) throws {
        try self.init(context: Self.makeContext(.withRecord(creator), dialect: dialect, options: options))
    }

    /// Opens a new connection.
    func checkoutBlocking(at site: CheckoutSite) throws -> ConnectionFairy<Connection> {
        try context.shutdownGate.checkRunning()
        let record = try ConnectionRecord.connected(context: context)
        // Every record handed to Checkout.run comes back through checkIn exactly once.
        lent.add(1, ordering: .relaxed)
        let fairy = try Checkout.run(pool: self, record: record, site: site)
        context.counters.countCheckout()
        return fairy
    }

    @usableFromInline
    func checkIn(_ record: ConnectionRecord<Connection>, from fairy: ConnectionFairy<Connection>?) {
        record.close(reason: context.shutdownGate.isShutDown ? .shutdown : .disposed)
        lent.subtract(1, ordering: .relaxed)
    }

    var outstandingCheckouts: Int { lent.load(ordering: .relaxed) }

    /// None: a NullPool holds nothing, idle or checked out.
    var heldConnections: (open: Int, inUse: Int) { (0, 0) }

    func closeIdleForShutdown() {}

    /// Shuts the pool down; see ``Pool/shutdown(gracePeriod:)-(Duration)->Int``.
    @discardableResult
    public func shutdown(gracePeriod: Duration = .seconds(30)) -> Int {
        shutdownBlocking(gracePeriod: gracePeriod)
    }

    /// Shuts the pool down without blocking; see ``Pool/shutdown(gracePeriod:)-(Duration)->Int``.
    @discardableResult
    public func shutdown(gracePeriod: Duration = .seconds(30)) async -> Int {
        await shutdownAsync(gracePeriod: gracePeriod)
    }

    /// Does nothing: a NullPool holds no idle connections.
    public func dispose() {}

    /// A new NullPool with the same configuration and a copy of the listeners.
    public func recreate() -> NullPool<Connection> {
        // Validated when this pool was made.
        try! NullPool(context: recreatedContext)
    }
}

extension NullPool where Connection: DBAPIConnection {
    /// Creates a NullPool over ``DefaultDialect``.
    public convenience init(options: PoolOptions = PoolOptions(), creator: @escaping @Sendable () throws -> Connection) throws {
        try self.init(options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }

    /// Creates a NullPool over ``DefaultDialect``, with a creator that receives the record.
    public convenience init(options: PoolOptions = PoolOptions(), creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection) throws {
        try self.init(options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }
}
