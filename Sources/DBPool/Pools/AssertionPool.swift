/// A debugging pool that allows exactly one checkout at a time, over one connection, and throws
/// ``PoolError/alreadyCheckedOut(location:)`` on a second concurrent checkout, naming where the
/// first one happened. Use it in tests to prove that code never holds two connections at once.
/// SQLAlchemy's `AssertionPool`; the location is the `connect()` call site (file and line)
/// rather than a Python traceback.
///
/// A return when nothing is checked out (only possible for a fairy that was out during
/// `dispose()`) is reported as ``PoolError/notCheckedOut`` through the log handler, since
/// `close()` cannot throw.
// @unchecked Sendable: every mutable stored property is read and written only while holding
// `lock` (a recursive mutex); the rest is immutable.
public final class AssertionPool<Connection>: Pool, SimplePoolKind, @unchecked Sendable {
    @usableFromInline let context: PoolContext<Connection>
    /// Whether ``PoolError/alreadyCheckedOut(location:)`` names the first checkout's call site.
    public let storeCheckoutLocation: Bool
    private let lock = RecursiveLock()
    // Guarded by `lock`.
    private var record: ConnectionRecord<Connection>?
    private var isCheckedOut = false
    private var checkoutLocation: String?

    static var kindName: String { "AssertionPool" }
    /// One: the pool's one connection.
    static var connectionLimit: Int? { 1 }

    init(storeCheckoutLocation: Bool, context: PoolContext<Connection>) throws {
        try context.options.validate()
        self.storeCheckoutLocation = storeCheckoutLocation
        self.context = context
    }

    /// Creates an AssertionPool over `dialect`, with a creator that takes no argument.
    public convenience init(
        storeCheckoutLocation: Bool = true, options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable () throws -> Connection
    ) throws {
        try self.init(
            storeCheckoutLocation: storeCheckoutLocation,
            context: Self.makeContext(.plain(creator), dialect: dialect, options: options))
    }

    /// Creates an AssertionPool over `dialect`, with a creator that receives the record.
    public convenience init(
        storeCheckoutLocation: Bool = true, options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection
    ) throws {
        try self.init(
            storeCheckoutLocation: storeCheckoutLocation,
            context: Self.makeContext(.withRecord(creator), dialect: dialect, options: options))
    }

    /// Checks out the one connection, or throws ``PoolError/alreadyCheckedOut(location:)``.
    func checkoutBlocking(at site: CheckoutSite) throws -> ConnectionFairy<Connection> {
        try context.shutdownGate.checkRunning()
        return try lock.withLock {
            if isCheckedOut {
                throw PoolError.alreadyCheckedOut(location: storeCheckoutLocation ? checkoutLocation : nil)
            }
            let current: ConnectionRecord<Connection>
            if let record {
                current = record
            } else {
                current = try ConnectionRecord.connected(context: context, guardLock: lock)
                record = current
            }
            isCheckedOut = true
            checkoutLocation = site.description
            // A failed checkout has already given the record back through returnFailedCheckout.
            let fairy = try Checkout.run(pool: self, record: current, site: site)
            context.counters.countCheckout()
            return fairy
        }
    }

    var outstandingCheckouts: Int { lock.withLock { isCheckedOut ? 1 : 0 } }

    /// The one record, once made.
    var heldConnections: (open: Int, inUse: Int) {
        lock.withLock { record == nil ? (0, 0) : (1, isCheckedOut ? 1 : 0) }
    }

    func closeIdleForShutdown() {
        lock.withLock {
            guard !isCheckedOut else { return }
            record?.close(reason: .shutdown)
        }
    }

    @usableFromInline
    func checkIn(_ returned: ConnectionRecord<Connection>, from fairy: ConnectionFairy<Connection>?) {
        lock.withLock {
            guard isCheckedOut else {
                context.log(.error, "Return to an AssertionPool with nothing checked out", error: PoolError.notCheckedOut)
                return
            }
            isCheckedOut = false
            checkoutLocation = nil
            if context.shutdownGate.isShutDown { returned.close(reason: .shutdown) }
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

    /// Clears the checked-out flag and closes the connection; the record reconnects on its next
    /// checkout.
    public func dispose() {
        lock.withLock {
            isCheckedOut = false
            checkoutLocation = nil
            record?.close()
        }
        context.log(.info, "Pool disposed. \(status())")
    }

    /// A new AssertionPool with the same configuration and a copy of the listeners. As in
    /// SQLAlchemy, `storeCheckoutLocation` is not carried over (it resets to `true`).
    public func recreate() -> AssertionPool<Connection> {
        // Validated when this pool was made.
        try! AssertionPool(storeCheckoutLocation: true, context: recreatedContext)
    }
}

extension AssertionPool where Connection: DBAPIConnection {
    /// Creates an AssertionPool over ``DefaultDialect``.
    public convenience init(storeCheckoutLocation: Bool = true, options: PoolOptions = PoolOptions(), creator: @escaping @Sendable () throws -> Connection) throws {
        try self.init(storeCheckoutLocation: storeCheckoutLocation, options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }

    /// Creates an AssertionPool over ``DefaultDialect``, with a creator that receives the record.
    public convenience init(storeCheckoutLocation: Bool = true, options: PoolOptions = PoolOptions(), creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection) throws {
        try self.init(storeCheckoutLocation: storeCheckoutLocation, options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }
}
