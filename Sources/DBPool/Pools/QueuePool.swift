import Dispatch
import Synchronization

/// The default pool: up to `poolSize` idle connections kept for reuse, plus up to `maxOverflow`
/// extra connections made under load and closed when they come back to a full pool. A checkout
/// at the limit waits up to `timeout` for a connection to come back. SQLAlchemy's `QueuePool`.
///
/// Waiting is fair: a returned connection goes straight to the longest-waiting caller, blocking
/// thread or async task alike, and a new arrival never overtakes a queued waiter. Async callers
/// suspend without blocking a thread; the driver calls for their checkout (connect, ping,
/// rollback) run on the task's own executor thread, synchronously, as in DB-API.
///
/// Counters: ``checkedOut`` counts every record in existence that is not idle, including ones
/// being created or closed. Unlike SQLAlchemy, ``dispose()`` subtracts exactly the records it
/// closes, so connections that were out during a dispose are still counted when they return and
/// ``checkedOut`` never goes negative.
public final class QueuePool<Connection>: Pool, RecordPool {
    let context: PoolContext<Connection>
    private let state: Locked<QueueStateMachine<ConnectionRecord<Connection>>>

    /// The number of connections kept idle for reuse (`poolSize`); 0 means no limit.
    public let size: Int
    /// Extra connections allowed beyond `size` (-1 means no limit; forced to -1 when `size` is 0).
    public let maxOverflow: Int
    /// How long `connect()` waits at the limit; `nil` waits forever.
    public let timeout: Duration?
    /// Whether the most recently returned connection is reused first.
    public let useLIFO: Bool

    /// The pool's event hooks.
    public var events: PoolEvents<Connection> { context.events }
    /// The options the pool was created with.
    public var options: PoolOptions { context.options }

    init(
        poolSize: Int, maxOverflow: Int, timeout: Duration?, useLIFO: Bool,
        context: PoolContext<Connection>
    ) throws {
        guard poolSize >= 0 else {
            throw PoolError.invalidArgument("poolSize must be >= 0 (0 means unlimited); got \(poolSize)")
        }
        guard maxOverflow >= -1 else {
            throw PoolError.invalidArgument("maxOverflow must be >= -1 (-1 means unlimited); got \(maxOverflow)")
        }
        if let timeout, timeout < .zero {
            throw PoolError.invalidArgument("timeout must be nil (wait forever) or a duration >= 0 seconds; got \(timeout)")
        }
        try context.options.validate()
        self.size = poolSize
        self.maxOverflow = poolSize == 0 ? -1 : maxOverflow
        self.timeout = timeout
        self.useLIFO = useLIFO
        self.context = context
        self.state = Locked(QueueStateMachine(poolSize: poolSize, maxOverflow: maxOverflow, useLIFO: useLIFO))
    }

    /// Creates a QueuePool over `dialect`, with a creator that takes no argument.
    public convenience init(
        poolSize: Int = 5, maxOverflow: Int = 10, timeout: Duration? = .seconds(30), useLIFO: Bool = false,
        options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable () throws -> Connection
    ) throws {
        try self.init(
            poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
            context: PoolContext(creator: .plain(creator), dialect: dialect, events: PoolEvents(), options: options, kind: "QueuePool"))
    }

    /// Creates a QueuePool over `dialect`, with a creator that receives the record it connects.
    public convenience init(
        poolSize: Int = 5, maxOverflow: Int = 10, timeout: Duration? = .seconds(30), useLIFO: Bool = false,
        options: PoolOptions = PoolOptions(), dialect: some Dialect<Connection>,
        creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection
    ) throws {
        try self.init(
            poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
            context: PoolContext(creator: .withRecord(creator), dialect: dialect, events: PoolEvents(), options: options, kind: "QueuePool"))
    }

    // MARK: Accessors

    /// Idle connections in the pool. SQLAlchemy's `checkedin()`.
    public var checkedIn: Int { state.withLock { $0.checkedIn } }
    /// Records in existence that are not idle. SQLAlchemy's `checkedout()`, but never negative.
    public var checkedOut: Int { state.withLock { $0.checkedOut } }
    /// Records beyond `size` (negative while the pool holds fewer than `size`); always 0 when
    /// `size` is 0. SQLAlchemy's `overflow()`.
    public var overflow: Int { state.withLock { $0.overflow } }
    /// Checkouts currently waiting for a connection.
    public var waiting: Int { state.withLock { $0.waiting } }

    /// `Pool size: 3  Connections in pool: 0 Current Overflow: 3 Current Checked out connections: 6`
    public func status() -> String {
        let (checkedIn, overflow, checkedOut) = state.withLock { ($0.checkedIn, $0.overflow, $0.checkedOut) }
        return "Pool size: \(size)  Connections in pool: \(checkedIn) Current Overflow: \(overflow) Current Checked out connections: \(checkedOut)"
    }

    // MARK: Checkout

    /// Checks a connection out, blocking while the pool is at its limit.
    public func checkout(at site: CheckoutSite) throws -> ConnectionFairy<Connection> {
        try Checkout.run(pool: self, record: acquireRecord(), site: site)
    }

    /// Checks a connection out, suspending while the pool is at its limit.
    public func checkout(at site: CheckoutSite) async throws -> ConnectionFairy<Connection> {
        try await Checkout.run(pool: self, record: acquireRecordAsync(), site: site)
    }

    private func acquireRecord() throws -> ConnectionRecord<Connection> {
        switch state.withLock({ $0.acquire(enqueueing: nil) }) {
        case let .record(record): return record
        case .create: return try createRecord()
        case .wait: break
        }
        // The deadline is taken once, so that every later wake-up measures against it.
        let deadline = timeout.map { DispatchTime.now() + DispatchTimeInterval.nanoseconds(Self.nanoseconds($0)) } ?? .distantFuture
        let semaphore = DispatchSemaphore(value: 0)
        let waiter = Waiter<ConnectionRecord<Connection>>(kind: .blocking(semaphore))
        switch state.withLock({ $0.acquire(enqueueing: waiter) }) {
        case let .record(record): return record
        case .create: return try createRecord()
        case .wait: break
        }
        if semaphore.wait(timeout: deadline) == .timedOut {
            let error: PoolError? = state.withLock { machine in
                machine.remove(waiter) ? timeoutError(machine) : nil
            }
            if let error { throw error }
            // Granted between the timeout and the lock: the signal is on its way; take the grant.
            semaphore.wait()
        }
        return try use(waiter.grant!)
    }

    private func acquireRecordAsync() async throws -> ConnectionRecord<Connection> {
        switch state.withLock({ $0.acquire(enqueueing: nil) }) {
        case let .record(record): return record
        case .create: return try createRecord()
        case .wait: break
        }
        let waiter = Waiter<ConnectionRecord<Connection>>(kind: .async)
        let timer: Task<Void, Never>? = timeout.map { timeout in
            let deadline = ContinuousClock.now + timeout
            return Task { [self] in
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                } catch {
                    return
                }
                self.abandon(waiter, because: nil)
            }
        }
        defer { timer?.cancel() }
        let grant = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Waiter<ConnectionRecord<Connection>>.Grant, any Error>) in
                let outcome: Result<QueueStateMachine<ConnectionRecord<Connection>>.Acquire, any Error> = state.withLock { machine in
                    // A cancellation or timeout that arrived before the waiter was queued.
                    if let failure = waiter.failure { return .failure(failure) }
                    waiter.continuation = continuation
                    return .success(machine.acquire(enqueueing: waiter))
                }
                switch outcome {
                case let .failure(error): continuation.resume(throwing: error)
                case let .success(.record(record)): continuation.resume(returning: .record(record))
                case .success(.create): continuation.resume(returning: .permit)
                case .success(.wait): break
                }
            }
        } onCancel: {
            self.abandon(waiter, because: CancellationError())
        }
        return try use(grant)
    }

    /// A waiter gives up: cancelled (`reason` is the CancellationError) or timed out (`nil`).
    /// If it is still queued it leaves the queue in O(1) and its continuation fails; if it was
    /// already granted something, nothing happens and the grant is delivered as usual.
    private func abandon(_ waiter: Waiter<ConnectionRecord<Connection>>, because reason: (any Error)?) {
        let resume: (CheckedContinuation<Waiter<ConnectionRecord<Connection>>.Grant, any Error>, any Error)? = state.withLock { machine in
            let error = reason ?? timeoutError(machine)
            if machine.remove(waiter) {
                let continuation = waiter.continuation
                waiter.continuation = nil
                return continuation.map { ($0, error) }
            }
            if waiter.grant == nil && waiter.failure == nil && waiter.continuation == nil {
                waiter.failure = error
            }
            return nil
        }
        if let (continuation, error) = resume {
            continuation.resume(throwing: error)
        }
    }

    private func timeoutError(_ machine: QueueStateMachine<ConnectionRecord<Connection>>) -> PoolError {
        PoolError.timeout(size: size, overflow: machine.overflow, timeout: timeout ?? .zero)
    }

    private func use(_ grant: Waiter<ConnectionRecord<Connection>>.Grant) throws -> ConnectionRecord<Connection> {
        switch grant {
        case let .record(record): return record
        case .permit: return try createRecord()
        }
    }

    /// Creates a record in a slot already reserved by the state machine. The creator runs outside
    /// the lock; if it fails, the slot is given back (SQLAlchemy restores `_overflow`) and the
    /// creator's error propagates unwrapped.
    private func createRecord() throws -> ConnectionRecord<Connection> {
        do {
            return try ConnectionRecord.connected(context: context)
        } catch {
            freeSlots(1)
            throw error
        }
    }

    private func freeSlots(_ count: Int) {
        let woken = state.withLock { $0.slotFreed(count: count) }
        for waiter in woken { wake(waiter) }
    }

    private func wake(_ waiter: Waiter<ConnectionRecord<Connection>>) {
        switch waiter.kind {
        case let .blocking(semaphore):
            semaphore.signal()
        case .async:
            // Dequeued under the lock, so no cancel or timeout can reach this continuation now.
            let continuation = waiter.continuation
            waiter.continuation = nil
            continuation?.resume(returning: waiter.grant!)
        }
    }

    // MARK: Return

    func returnRecord(_ record: ConnectionRecord<Connection>) {
        switch state.withLock({ $0.release(record) }) {
        case .pooled:
            break
        case let .handOff(waiter):
            wake(waiter)
        case let .close(record):
            // The slot stays counted until the connection is really closed.
            record.close()
            freeSlots(1)
        }
    }

    // MARK: Pool-wide operations

    /// Closes every idle connection. Checked-out connections are untouched and are pooled
    /// normally when they return; the counters stay true throughout.
    public func dispose() {
        let records = state.withLock { $0.drainIdle() }
        for record in records { record.close() }
        if !records.isEmpty { freeSlots(records.count) }
        context.log(.info, "Pool disposed. \(status())")
    }

    /// A new, empty QueuePool with the same configuration, creator, dialect and a copy of the
    /// listeners. It does not connect.
    public func recreate() -> QueuePool<Connection> {
        context.log(.info, "Pool recreating")
        // The configuration was validated when this pool was made, so it cannot fail now.
        return try! QueuePool(
            poolSize: size, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
            context: context.recreated(kind: "QueuePool"))
    }

    /// Pool-wide invalidation; see ``Pool/invalidateAll(triggeredBy:error:)``.
    public func invalidateAll(triggeredBy fairy: ConnectionFairy<Connection>?, error: (any Error)?) {
        context.invalidateAll(triggeredBy: fairy, error: error)
    }

    static func nanoseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let (scaled, overflowed) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflowed { return Int.max }
        return Int(clamping: scaled.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue)
    }
}

extension QueuePool where Connection: DBAPIConnection {
    /// Creates a QueuePool over ``DefaultDialect``, with a creator that takes no argument:
    /// `let pool = try QueuePool { try MyConnection() }`.
    public convenience init(
        poolSize: Int = 5, maxOverflow: Int = 10, timeout: Duration? = .seconds(30), useLIFO: Bool = false,
        options: PoolOptions = PoolOptions(),
        creator: @escaping @Sendable () throws -> Connection
    ) throws {
        try self.init(poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
                      options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }

    /// Creates a QueuePool over ``DefaultDialect``, with a creator that receives the record.
    public convenience init(
        poolSize: Int = 5, maxOverflow: Int = 10, timeout: Duration? = .seconds(30), useLIFO: Bool = false,
        options: PoolOptions = PoolOptions(),
        creator: @escaping @Sendable (ConnectionRecord<Connection>) throws -> Connection
    ) throws {
        try self.init(poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout, useLIFO: useLIFO,
                      options: options, dialect: DefaultDialect<Connection>(), creator: creator)
    }
}
