import Synchronization

/// The handle a caller gets from one checkout: a short-lived proxy over a pooled driver
/// connection. SQLAlchemy's `_ConnectionFairy` (`PoolProxiedConnection`).
///
/// Call ``close()`` to give the connection back, or use `withConnection`, which always does.
/// Properties of the driver connection are reachable directly through dynamic member lookup
/// (`fairy.backendPID`); methods through ``dbapiConnection``.
///
/// A fairy dropped without `close()` is returned by its `deinit`, with a warning through the
/// pool's log handler: the Swift analogue of SQLAlchemy's weakref finaliser.
///
/// A fairy belongs to one holder at a time. It may be handed to another task or thread, but not
/// used from two at once. The one exception is ``close()``: two threads closing the same fairy at
/// once is a common slip, so exactly one of them returns the connection and the other does
/// nothing.
///
/// Difference from SQLAlchemy, which makes a new fairy per checkout: a QueuePool keeps a closed
/// fairy with its record and hands the same object to that record's next checkout, if nothing
/// references it by then, so that a checkout allocates nothing. A fairy still held after
/// `close()` is never reused and stays closed.
@dynamicMemberLookup
// Unchecked Sendable, safe because: a fairy is owned by one holder at a time (the pool enforces that one
// record backs one fairy, except in StaticPool, whose shared record is guarded by the pool's
// lock). The driver connection it exposes need not be Sendable for the same reason.
public final class ConnectionFairy<Connection>: @unchecked Sendable {
    /// The pool: the fairy's one reference to it, held strongly from checkout until the record
    /// goes back (see ``checkIn(_:keepingFairy:)``), so that the pool outlives its connections.
    /// `nil` after that: a closed fairy that a QueuePool keeps for reuse (see
    /// ``ConnectionRecord/spareFairy``) must not hold its pool, or the pool's idle records would
    /// make a cycle; a detached fairy no longer belongs to the pool.
    ///
    /// An existential rather than a typed reference, so that one field serves every pool kind.
    /// The QueuePool return path is kept specialised by ``poolIsQueuePool``: where it is set, the
    /// return downcasts this reference unchecked and calls the pool on its concrete type.
    @usableFromInline @exclusivity(unchecked) var poolStorage: (any RecordPool<Connection>)?
    /// Used only while the record is checked out (checkout logic, return); a use in any other
    /// state stops the program rather than reading a missing reference.
    @inlinable var pool: any RecordPool<Connection> { poolStorage! }
    /// Whether ``poolStorage`` holds a ``QueuePool`` (``RecordPool/isQueuePool``), read from the
    /// pool's static type at checkout. A stored flag costs one load on the return path, where a
    /// checked cast would look up generic type metadata.
    @usableFromInline let poolIsQueuePool: Bool
    @usableFromInline let context: PoolContext<Connection>
    /// Where the checkout was requested.
    public var checkoutSite: CheckoutSite? { site }
    @usableFromInline @exclusivity(unchecked) var site: CheckoutSite?

    /// The connection, boxed (see ``ConnectionBox``); `nil` once closed, invalidated, or after a
    /// detached fairy has been closed.
    // The `@exclusivity(unchecked)` fields below skip the run-time exclusivity check (a quarter
    // of a checkout's cost): one holder at a time, handed over through the pool's lock, is the
    // rule that already keeps their accesses apart (see the Sendable note above).
    @usableFromInline @exclusivity(unchecked) var box: ConnectionBox<Connection>?
    /// The record behind this checkout; `nil` after close, hard invalidation or detach.
    public var record: ConnectionRecord<Connection>? { recordStorage }
    @usableFromInline @exclusivity(unchecked) var recordStorage: ConnectionRecord<Connection>?
    /// SQLAlchemy's re-entrancy counter: nested checkouts of the same fairy (SingletonThreadPool)
    /// increment it, and only the close that brings it back to zero returns the connection.
    /// Atomic so that of two concurrent closes exactly one wins the step to zero; the rest of the
    /// fairy is still one holder's at a time.
    @usableFromInline let nesting = Atomic<Int>(0)
    /// ``nesting`` for the steps that run on the holder's thread alone (checkout, invalidate).
    @inlinable var counter: Int {
        get { nesting.load(ordering: .relaxed) }
        set { nesting.store(newValue, ordering: .relaxed) }
    }
    /// Whether an async caller checked the fairy out, so that its return runs on the pool's driver
    /// threads (see ``close()``).
    @usableFromInline @exclusivity(unchecked) var returnsOnDriverThreads = false
    /// The thread that checked the fairy out (SingletonThreadPool's per-thread bookkeeping).
    var ownerThread: UInt = 0
    @usableFromInline var detachedInfo: [String: any Sendable]?

    @inlinable
    init<SomePool: RecordPool<Connection>>(
        pool: SomePool, context: PoolContext<Connection>,
        record: consuming ConnectionRecord<Connection>, box: consuming ConnectionBox<Connection>, site: CheckoutSite?
    ) {
        self.poolStorage = pool
        self.poolIsQueuePool = SomePool.isQueuePool
        self.context = context
        self.recordStorage = record
        self.box = box
        self.site = site
    }

    /// Whether the checkout must pre-ping or run `checkout` listeners.
    @inlinable
    var needsCheckoutLogic: Bool { context.needsCheckoutLogic }

    /// Makes a fairy that a QueuePool kept for reuse hold a new checkout. The caller has checked
    /// that nobody else references it, so no old holder can see the change.
    @inlinable
    func rearm<SomePool: RecordPool<Connection>>(pool: SomePool, record: consuming ConnectionRecord<Connection>, box: consuming ConnectionBox<Connection>, site: CheckoutSite?) {
        self.poolStorage = pool
        self.recordStorage = record
        self.box = box
        self.site = site
        self.returnsOnDriverThreads = false
    }

    /// The driver connection; `nil` once the fairy is closed or hard-invalidated, or after a
    /// detached fairy has been closed. SQLAlchemy's `dbapi_connection`.
    public var dbapiConnection: Connection? { box?.value }

    /// The driver connection, for code that holds a live checkout (inside `withConnection`, or
    /// before `close()`), so that it needs no `!`. SQLAlchemy 2's `driver_connection`.
    ///
    /// Reading it from a fairy that has no connection (closed, hard-invalidated, or a detached
    /// fairy that was closed) is a programming error and stops the program with a message naming
    /// the checkout site; use ``dbapiConnection`` where the fairy may have none.
    @inlinable
    public var connection: Connection {
        guard let box else { noConnection() }
        return box.value
    }

    @usableFromInline
    func noConnection() -> Never {
        preconditionFailure(
            "ConnectionFairy.connection read with no connection: the fairy checked out at \(checkoutSite?.description ?? "an unknown site") was closed, invalidated or detached and closed")
    }

    deinit {
        guard counter > 0, box != nil || record != nil else { return }
        context.log(.warning, "A ConnectionFairy checked out at \(checkoutSite?.description ?? "an unknown site") was dropped without close(); returning its connection to the pool")
        counter = 0
        returnDropped()
    }

    /// Whether the fairy still has a live driver connection: `false` once it is closed or
    /// invalidated, and also once its record has closed the connection under it (for example
    /// `fairy.record?.invalidate()`, or `dispose()` on an AssertionPool or StaticPool).
    public var isValid: Bool {
        guard let box else { return false }
        return !box.isClosedByRecord
    }

    /// Whether the fairy has been detached from its pool.
    public var isDetached: Bool { record == nil && detachedInfo != nil }

    /// The record's ``ConnectionRecord/info``; a private copy once the fairy is detached.
    public var info: [String: any Sendable] {
        get { record?.info ?? detachedInfo ?? [:] }
        set {
            if let record {
                record.info = newValue
            } else {
                detachedInfo = newValue
            }
        }
    }

    /// The record's ``ConnectionRecord/recordInfo``; `nil` when detached or closed.
    public var recordInfo: [String: any Sendable]? {
        get { record?.recordInfo }
        set { if let newValue { record?.recordInfo = newValue } }
    }

    /// Reads a property of the driver connection.
    ///
    /// Using a fairy after `close()` is a programming error, and stops the program with a message
    /// that says so; check ``isValid`` or use ``dbapiConnection`` where the fairy may be closed.
    public subscript<T>(dynamicMember keyPath: KeyPath<Connection, T>) -> T {
        guard let connection = box?.value else {
            preconditionFailure("ConnectionFairy used after close(): the connection went back to the pool (checked out at \(checkoutSite?.description ?? "an unknown site"))")
        }
        return connection[keyPath: keyPath]
    }
}
