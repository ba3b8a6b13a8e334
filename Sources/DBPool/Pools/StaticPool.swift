/// A pool of exactly one connection, shared by every checkout, including concurrent ones: each
/// checkout gets its own fairy over the same driver connection. Suits SQLite's `:memory:`
/// database, which exists only inside one connection. SQLAlchemy's `StaticPool`.
///
/// Each return still runs the reset (rollback by default) and fires `checkin`, so a return by one
/// holder rolls back whatever another holder has open on the shared connection: share it only
/// between callers that expect that. The record is created on first checkout and replaced when it
/// is hard- or soft-invalidated or predates a pool-wide invalidation. The pool's lock serialises
/// checkouts and the record's bookkeeping; the driver connection itself is used concurrently by
/// the holders, so it must tolerate that.
// @unchecked Sendable: every mutable stored property is read and written only while holding
// `lock` (a recursive mutex); the rest is immutable.
public final class StaticPool<Connection>: Pool, SimplePoolKind, @unchecked Sendable {
    @usableFromInline let context: PoolContext<Connection>
    private let lock = RecursiveLock()
    // Guarded by `lock`.
    private var record: ConnectionRecord<Connection>?

    static var kindName: String { "StaticPool" }

    init(context: PoolContext<Connection>) throws {
        try context.options.validate()
        self.context = context
    }

    /// Creates a StaticPool over `dialect`, with a creator that takes no argument.
    public convenience init(
        options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable () throws -> Connection
    ) throws {
        try self.init(context: Self.makeContext(.plain(creator), dialect: dialect, options: options))
    }

    /// Creates a StaticPool over `dialect`, with a creator that receives the record.
    public convenience init(
        options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection
    ) throws {
        try self.init(context: Self.makeContext(.withRecord(creator), dialect: dialect, options: options))
    }

    /// Checks out the shared connection, creating or replacing the record first if needed.
    func checkoutBlocking(at site: CheckoutSite) throws -> ConnectionFairy<Connection> {
        try context.shutdownGate.checkRunning()
        return try lock.withLock {
            if let current = record, current.isHardOrSoftInvalidated {
                record = nil
                // Holders of the old record keep using its connection; the last of them closes it.
                if !current.inUse { current.close() }
            }
            let shared: ConnectionRecord<Connection>
            if let record {
                shared = record
            } else {
                shared = try ConnectionRecord.connected(context: context, guardLock: lock)
                record = shared
            }
            let fairy = try Checkout.run(pool: self, record: shared, site: site)
            context.counters.countCheckout()
            return fairy
        }
    }

    @usableFromInline
    func checkIn(_ returned: ConnectionRecord<Connection>, from fairy: ConnectionFairy<Connection>?) {
        lock.withLock {
            guard !returned.inUse else { return }
            if context.shutdownGate.isShutDown {
                returned.close(reason: .shutdown)
                if returned === record { record = nil }
            } else if returned !== record {
                // A replaced record is closed once its last holder is gone, so nothing leaks.
                returned.close()
            }
        }
    }

    var outstandingCheckouts: Int { lock.withLock { record?.inUse == true ? 1 : 0 } }

    /// The shared record, while it has a connection.
    var heldConnections: (open: Int, inUse: Int) {
        lock.withLock {
            guard let record, record.dbapiConnection != nil else { return (0, 0) }
            return (1, record.inUse ? 1 : 0)
        }
    }

    func closeIdleForShutdown() {
        lock.withLock {
            guard let current = record, !current.inUse else { return }
            current.close(reason: .shutdown)
            record = nil
        }
    }

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

    /// Closes the shared connection and forgets the record; the next checkout makes a new one.
    public func dispose() {
        lock.withLock {
            record?.close()
            record = nil
        }
        context.log(.info, "Pool disposed. \(status())")
    }

    /// A new StaticPool with the same creator, configuration and a copy of the listeners.
    public func recreate() -> StaticPool<Connection> {
        // Validated when this pool was made.
        try! StaticPool(context: recreatedContext)
    }
}

extension StaticPool where Connection: DBAPIConnection {
    /// Creates a StaticPool over ``DefaultDialect``.
    public convenience init(options: PoolOptions = PoolOptions(), creator: @escaping @Sendable () throws -> Connection) throws {
        try self.init(options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }

    /// Creates a StaticPool over ``DefaultDialect``, with a creator that receives the record.
    public convenience init(options: PoolOptions = PoolOptions(), creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection) throws {
        try self.init(options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }
}
