/// A pool that keeps one connection per thread: every checkout on a thread gets that thread's
/// connection, and a nested `connect()` on a thread that already holds a fairy returns that same
/// fairy (its `close()` then only ends the nesting). Suits SQLite `:memory:` databases used from a
/// few threads. SQLAlchemy's `SingletonThreadPool`.
///
/// At most `poolSize` (1 to 1,000,000) thread records are kept. A thread that arrives when the pool is full closes
/// other threads' records (even ones in use, as SQLAlchemy does); such a thread gets a new
/// connection on its next checkout.
///
/// Async callers are not supported: a task may resume on any thread, so a per-thread connection
/// means nothing to it. The async `connect()` and `withConnection` throw
/// ``PoolError/unsupported(_:)``; use QueuePool or StaticPool from async code.
// @unchecked Sendable: every mutable stored property is read and written only while holding
// `lock` (a recursive mutex); the rest is immutable.
public final class SingletonThreadPool<Connection>: Pool, SimplePoolKind, @unchecked Sendable {
    @usableFromInline let context: PoolContext<Connection>
    /// The number of thread records kept.
    public let size: Int
    private let lock = RecursiveLock()
    // All guarded by `lock`.
    private var threadRecords: [UInt: ConnectionRecord<Connection>] = [:]
    private var recordThreads: [ObjectIdentifier: UInt] = [:]
    private var threadFairies: [UInt: UnownedFairy] = [:]

    /// The current fairy of a thread, held without a reference count so that a fairy the caller
    /// drops still reaches its `deinit`, which removes it from here first.
    private struct UnownedFairy {
        unowned(unsafe) let fairy: ConnectionFairy<Connection>
    }

    static var kindName: String { "SingletonThreadPool" }

    init(poolSize: Int, context: PoolContext<Connection>) throws {
        guard (1...maximumConnectionCount).contains(poolSize) else {
            throw PoolError.invalidArgument("poolSize must be between 1 and \(maximumConnectionCount) (the number of threads to keep connections for); got \(poolSize)")
        }
        try context.options.validate()
        self.size = poolSize
        self.context = context
    }

    /// Creates a SingletonThreadPool over `dialect`, with a creator that takes no argument.
    public convenience init(
        poolSize: Int = 5, options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable () throws -> Connection
    ) throws {
        try self.init(poolSize: poolSize, context: Self.makeContext(.plain(creator), dialect: dialect, options: options))
    }

    /// Creates a SingletonThreadPool over `dialect`, with a creator that receives the record.
    public convenience init(
        poolSize: Int = 5, options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection
    ) throws {
        try self.init(poolSize: poolSize, context: Self.makeContext(.withRecord(creator), dialect: dialect, options: options))
    }

    /// Checks out the calling thread's connection, or returns the thread's current fairy again
    /// (nested: no `checkout` event, no ping) if it holds one.
    func checkoutBlocking(at site: CheckoutSite) throws -> ConnectionFairy<Connection> {
        try context.shutdownGate.checkRunning()
        let thread = currentThreadID()
        return try lock.withLock {
            if let current = threadFairies[thread]?.fairy, current.counter > 0 {
                current.nesting.wrappingAdd(1, ordering: .relaxed)
                return current
            }
            let record: ConnectionRecord<Connection>
            if let existing = threadRecords[thread] {
                record = existing
            } else {
                cleanup()
                record = try ConnectionRecord.connected(context: context, guardLock: lock)
                threadRecords[thread] = record
                recordThreads[ObjectIdentifier(record)] = thread
            }
            let fairy = try Checkout.run(pool: self, record: record, site: site)
            fairy.ownerThread = thread
            threadFairies[thread] = UnownedFairy(fairy: fairy)
            context.counters.countCheckout()
            return fairy
        }
    }

    /// Always throws ``PoolError/unsupported(_:)``: connections here belong to threads, and a task
    /// has no fixed thread.
    public func checkout(at site: CheckoutSite) async throws -> ConnectionFairy<Connection> {
        throw PoolError.unsupported(
            "SingletonThreadPool binds connections to threads and cannot serve async callers, whose tasks move between threads; use the blocking connect() from a thread, or a QueuePool or StaticPool")
    }

    /// Makes room for one more thread record by closing others; called with the lock held.
    private func cleanup() {
        while threadRecords.count >= size, let (thread, victim) = threadRecords.first {
            threadRecords[thread] = nil
            recordThreads[ObjectIdentifier(victim)] = nil
            victim.close()
        }
    }

    /// The record stays bound to its thread; the checkout that ends is no longer the thread's
    /// current one. On detach too, as SQLAlchemy's `_do_return_conn` does: the thread's next
    /// checkout gets a new fairy, not the detached one. A failed checkout (no fairy) has nothing
    /// to forget: its fairy was never made the thread's current one.
    @usableFromInline
    func checkIn(_ record: ConnectionRecord<Connection>, from fairy: ConnectionFairy<Connection>?) {
        guard let fairy else { return }
        lock.withLock {
            if let current = threadFairies[fairy.ownerThread], current.fairy === fairy {
                threadFairies[fairy.ownerThread] = nil
                if context.shutdownGate.isShutDown, let record = threadRecords.removeValue(forKey: fairy.ownerThread) {
                    recordThreads[ObjectIdentifier(record)] = nil
                    record.close(reason: .shutdown)
                }
            }
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

    var outstandingCheckouts: Int { lock.withLock { threadFairies.count } }

    /// The thread records, and the threads that hold a fairy now.
    var heldConnections: (open: Int, inUse: Int) { lock.withLock { (threadRecords.count, threadFairies.count) } }

    func closeIdleForShutdown() {
        lock.withLock {
            for (thread, record) in threadRecords where threadFairies[thread] == nil {
                record.close(reason: .shutdown)
                threadRecords[thread] = nil
                recordThreads[ObjectIdentifier(record)] = nil
            }
        }
    }

    /// Closes every thread's connection and forgets the records.
    public func dispose() {
        lock.withLock {
            for record in threadRecords.values { record.close() }
            threadRecords.removeAll()
            recordThreads.removeAll()
        }
        context.log(.info, "Pool disposed. \(status())")
    }

    /// A new SingletonThreadPool with the same size, configuration and a copy of the listeners.
    public func recreate() -> SingletonThreadPool<Connection> {
        // Validated when this pool was made.
        try! SingletonThreadPool(poolSize: size, context: recreatedContext)
    }

    /// `SingletonThreadPool id:<n> size: <records>`
    public func status() -> String {
        let count = lock.withLock { threadRecords.count }
        return "SingletonThreadPool id:\(UInt(bitPattern: ObjectIdentifier(self).hashValue)) size: \(count)"
    }

}

extension SingletonThreadPool where Connection: DBAPIConnection {
    /// Creates a SingletonThreadPool over ``DefaultDialect``.
    public convenience init(poolSize: Int = 5, options: PoolOptions = PoolOptions(), creator: @escaping @Sendable () throws -> Connection) throws {
        try self.init(poolSize: poolSize, options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }

    /// Creates a SingletonThreadPool over ``DefaultDialect``, with a creator that receives the record.
    public convenience init(poolSize: Int = 5, options: PoolOptions = PoolOptions(), creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection) throws {
        try self.init(poolSize: poolSize, options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }
}
