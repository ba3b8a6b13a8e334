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
    /// The pool, held strongly while the fairy is checked out so that the pool outlives its
    /// connections. `nil` only while a QueuePool keeps the fairy for reuse (see
    /// ``ConnectionRecord/spareFairy``): a strong reference there would make a cycle through the
    /// pool's idle records.
    @usableFromInline @exclusivity(unchecked) var poolStorage: (any RecordPool<Connection>)?
    /// Used only while the fairy is checked out or detached, never while it is kept for reuse
    /// (the QueuePool return path uses `queuePool`); a use in any other state stops the program
    /// rather than reading a missing reference.
    @inlinable var pool: any RecordPool<Connection> { poolStorage! }
    /// The same pool when it is a QueuePool, typed, so that the return path can be specialised
    /// for the caller's connection type instead of going through the existential. Unmanaged,
    /// because `poolStorage` holds it whenever it is used, and a use through `Unmanaged`'s
    /// guaranteed reference costs no retain and release.
    @usableFromInline let queuePool: Unmanaged<QueuePool<Connection>>?
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
    init(
        pool: any RecordPool<Connection>, queuePool: QueuePool<Connection>?, context: PoolContext<Connection>,
        record: consuming ConnectionRecord<Connection>, box: consuming ConnectionBox<Connection>, site: CheckoutSite?
    ) {
        self.poolStorage = pool
        self.queuePool = queuePool.map { Unmanaged.passUnretained($0) }
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
    func rearm(pool: any RecordPool<Connection>, record: consuming ConnectionRecord<Connection>, box: consuming ConnectionBox<Connection>, site: CheckoutSite?) {
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

    // MARK: Return path

    /// Returns the connection to the pool: the `reset` event, then rollback, commit or nothing
    /// per `resetOnReturn`, then the `checkin` event, then the record goes back to the pool.
    /// For a detached fairy: `reset` (terminateOnly), the reset action, `closeDetached`, and the
    /// connection is closed. A second `close()` does nothing. Errors during the reset are logged
    /// and invalidate the record; they never escape `close()`.
    ///
    /// Synchronous, and callable from async code: for a fairy that an async caller checked out,
    /// a `close()` made off the pool's driver threads hands the reset and the return to those
    /// threads and returns at once, so no driver call runs on the calling (cooperative) thread.
    /// The fairy is closed when `close()` returns (``dbapiConnection`` and ``record`` are `nil`);
    /// the connection is back in the pool a moment later. Use ``closeAndWait()`` to wait for that.
    ///
    /// If the record closed the connection while the fairy held it (`fairy.record?.invalidate()`),
    /// the connection is not touched again: no `reset` event and no rollback, only `checkin` with
    /// no connection. SQLAlchemy's explicit close would still reset the closed connection; its
    /// garbage-collection path already behaves like this.
    ///
    /// Two threads calling `close()` on the same fairy at once is misuse, but safe: one of them
    /// returns the connection and the other does nothing, as a second `close()` does.
    @inlinable
    public func close() {
        close(transactionWasReset: false)
    }

    /// SQLAlchemy's "special close": `transactionWasReset: true` says the caller already ended the
    /// transaction, so the pool skips its rollback (a commit is still issued in `.commit` mode).
    @inlinable
    public func close(transactionWasReset: Bool) {
        // The common close takes the counter from 1 to 0 in one step; only the caller whose step
        // it was goes on, so a concurrent second close cannot return the record twice.
        guard nesting.compareExchange(expected: 1, desired: 0, ordering: .acquiringAndReleasing).exchanged else {
            closeNestedOrClosed(transactionWasReset: transactionWasReset)
            return
        }
        if returnsOnDriverThreads, let executor = context.driverExecutor, !executor.isCurrent {
            returnOnDriverThreads(executor, transactionWasReset: transactionWasReset)
            return
        }
        finishReturn(transactionWasReset: transactionWasReset)
    }

    /// Returns the connection and waits until it is back in the pool (or, for a detached fairy,
    /// closed), with the reset run on the pool's driver threads. Does nothing if the fairy is
    /// already closed.
    public func closeAndWait() async {
        guard counter > 0 else { return }
        guard let executor = context.driverExecutor, !executor.isCurrent else {
            close()
            return
        }
        returnsOnDriverThreads = false
        // `run` rethrows only what its body throws, and `close()` cannot throw.
        try? await executor.run { close() }
    }

    /// The return of an async caller's fairy, moved to the driver threads. The fairy lets go of
    /// its record and connection now, so that it reads as closed at once.
    @usableFromInline
    func returnOnDriverThreads(_ executor: DriverExecutor, transactionWasReset: Bool) {
        let record = recordStorage.take()
        let box = self.box.take()
        executor.submit { [self] in
            self.finishReturn(record: record, box: box, transactionWasReset: transactionWasReset, reusable: true)
        }
    }

    /// A close that did not find the counter at 1: the end of a nested checkout (above 1), or a
    /// fairy that is already closed (0), where it does nothing.
    @usableFromInline
    func closeNestedOrClosed(transactionWasReset: Bool) {
        var current = nesting.load(ordering: .relaxed)
        while current > 0 {
            let (exchanged, original) = nesting.compareExchange(
                expected: current, desired: current - 1, ordering: .acquiringAndReleasing)
            if exchanged {
                if current == 1 {
                    if returnsOnDriverThreads, let executor = context.driverExecutor, !executor.isCurrent {
                        returnOnDriverThreads(executor, transactionWasReset: transactionWasReset)
                    } else {
                        finishReturn(transactionWasReset: transactionWasReset)
                    }
                }
                return
            }
            current = original
        }
    }

    /// `reusable` is false when called from `deinit`: a fairy being freed cannot be kept.
    @inlinable
    func finishReturn(transactionWasReset: Bool, reusable: Bool = true) {
        // Moved out rather than copied: the fairy lets go of both here anyway.
        finishReturn(record: recordStorage.take(), box: box.take(), transactionWasReset: transactionWasReset, reusable: reusable)
    }

    @inlinable
    func finishReturn(record: consuming ConnectionRecord<Connection>?, box: consuming ConnectionBox<Connection>?, transactionWasReset: Bool, reusable: Bool) {
        guard let record = record.take() else {
            // A detached fairy whose record had already closed the connection has nothing to close.
            if let box = box.take(), !box.isClosedByRecord {
                Self.reset(box.value, record: nil, transactionWasReset: transactionWasReset, context: context)
            }
            pool.fairyFinished(self)
            return
        }
        Self.resetForReturn(record: record, box: box, transactionWasReset: transactionWasReset, context: context)
        guard let queuePool else {
            record.checkin(to: pool)
            pool.fairyFinished(self)
            return
        }
        record.fireCheckin()
        // The pool keeps this fairy for the record's next checkout, which reuses it if the
        // caller has let go of it by then: a checkout in steady state allocates nothing. The
        // pool reference moves to a local that keeps the pool alive until the record is back.
        let pool = poolStorage.take()
        if reusable { record.spareFairy = self }
        queuePool._withUnsafeGuaranteedRef { $0.returnRecord(record) }
        withExtendedLifetime(pool) {}
    }

    /// The return of a fairy dropped without `close()`, after its `deinit` has started: nothing
    /// may refer to the fairy any more, so the return runs on what it held. On the driver threads
    /// for an async caller's fairy, so that the `deinit` never blocks the thread it runs on.
    func returnDropped() {
        let record = recordStorage.take(), box = self.box.take()
        let context = self.context, pool = self.pool
        let queuePool = self.queuePool.map { $0.takeUnretainedValue() }
        let finish: @Sendable () -> Void = {
            guard let record else {
                if let box, !box.isClosedByRecord { Self.reset(box.value, record: nil, transactionWasReset: false, context: context) }
                return
            }
            Self.resetForReturn(record: record, box: box, transactionWasReset: false, context: context)
            if let queuePool {
                record.fireCheckin()
                queuePool.returnRecord(record)
            } else {
                record.checkin(to: pool)
            }
            withExtendedLifetime(pool) {}
        }
        if returnsOnDriverThreads, let executor = context.driverExecutor, !executor.isCurrent {
            executor.submit(finish)
        } else {
            finish()
            pool.fairyFinished(self)
        }
    }

    /// The reset half of a return with a record: the quiet rollback inline (the common return),
    /// anything else through ``reset(_:record:transactionWasReset:context:)``; then the record
    /// has no holder.
    @inlinable
    static func resetForReturn(record: ConnectionRecord<Connection>, box: consuming ConnectionBox<Connection>?, transactionWasReset: Bool, context: PoolContext<Connection>) {
        // SQLAlchemy logs the return before the reset it performs.
        context.log(.debug, "Connection being returned to pool")
        // A box the record has closed stays untouched: SQLAlchemy's finaliser, too, resets only
        // the connection the record still holds.
        if let box = box.take(), !box.isClosedByRecord {
            if !transactionWasReset && context.rollsBackQuietly {
                do {
                    try context.dialect.doRollback(box.value)
                } catch {
                    resetFailed(error, record: record, context: context)
                }
            } else {
                reset(box.value, record: record, transactionWasReset: transactionWasReset, context: context)
            }
        }
        record.removeHolder()
    }

    @usableFromInline
    static func resetFailed(_ error: any Error, record: ConnectionRecord<Connection>?, context: PoolContext<Connection>) {
        context.log(.error, "Exception during reset or similar", error: error)
        record?.invalidate(error)
    }

    /// The whole reset: the `reset` event, the action `resetOnReturn` asks for, its log lines, and
    /// the close of a detached connection. The common return (a rollback with no listener and no
    /// debug logging) takes a shorter inlined path in ``resetForReturn(record:box:transactionWasReset:context:)``.
    @usableFromInline
    static func reset(_ connection: Connection, record: ConnectionRecord<Connection>?, transactionWasReset: Bool, context: PoolContext<Connection>) {
        var resetFailed = false
        do {
            context.events.fireReset(
                connection, record,
                PoolResetState(transactionWasReset: transactionWasReset, terminateOnly: record == nil, asyncioSafe: true))
            switch context.resetOnReturn {
            case .rollback:
                if transactionWasReset {
                    context.log(.debug, "Connection reset, transaction already reset")
                } else {
                    context.log(.debug, "Connection rollback-on-return")
                    try context.dialect.doRollback(connection)
                }
            case .commit:
                context.log(.debug, "Connection commit-on-return")
                try context.dialect.doCommit(connection)
            case .noAction:
                break
            }
        } catch {
            Self.resetFailed(error, record: record, context: context)
            resetFailed = true
        }
        if record == nil {
            closeDetached(connection, afterFailedReset: resetFailed, context: context)
        }
    }

    /// A detached connection is closed whatever happened to its reset, or it would leak: the
    /// pool no longer knows it. After a failed reset it is terminated, as an invalidated one is.
    @usableFromInline
    static func closeDetached(_ connection: Connection, afterFailedReset: Bool, context: PoolContext<Connection>) {
        context.events.fireCloseDetached(connection)
        context.log(.debug, "Closing detached connection")
        context.closeQuietly(connection, terminate: afterFailedReset)
    }

    // MARK: Invalidation and detach

    /// Invalidates the connection. Hard (the default): the record's connection is closed (events
    /// `invalidate`, then `close`; dialect `doTerminate`), and the checkout ends at once with a
    /// `checkin` carrying no connection; a later `close()` does nothing. Soft: the connection stays
    /// usable until it is returned, and the record replaces it on its next checkout.
    ///
    /// On a fairy that is already closed or invalidated, logs a warning
    /// ("Can't invalidate an already-closed connection.") and does nothing.
    ///
    /// Difference from SQLAlchemy: hard-invalidating a *detached* fairy terminates its connection,
    /// where SQLAlchemy leaves it open and only forgets it; the pool no longer knows that
    /// connection, so nothing else would ever close it.
    public func invalidate(_ error: (any Error)? = nil, soft: Bool = false) {
        guard let held = box else {
            context.log(.warning, "Can't invalidate an already-closed connection.")
            return
        }
        if let record {
            record.invalidate(error, soft: soft)
        } else if !soft && !held.isClosedByRecord {
            context.closeQuietly(held.value, terminate: true)
        }
        guard !soft else { return }
        box = nil
        counter = 0
        // Not kept for reuse: a holder goes on reading an invalidated fairy (`isValid`, `record`),
        // and TSan caught a reuse racing such a read under chaos; invalidations are rare enough
        // that the allocation a reuse would save does not matter.
        finishReturn(transactionWasReset: false, reusable: false)
    }

    /// Separates the connection from the pool for good. The record goes straight back to the pool
    /// without its connection (no reset, no `checkin`; it reconnects on its next checkout), the
    /// `detach` event fires, and the fairy keeps the connection, which no longer counts against
    /// the pool's limits. ``info`` becomes a private copy. Closing the detached fairy closes the
    /// connection. Calling `detach()` again does nothing.
    ///
    /// `detach` fires with the fairy's own connection, as in SQLAlchemy, even when the record has
    /// already closed it (after `fairy.record?.invalidate()`); such a fairy then has nothing to
    /// reset or close.
    ///
    /// Difference from SQLAlchemy: closing a detached fairy whose reset fails still closes
    /// (terminates) the connection; SQLAlchemy skips `closeDetached` and the close, and leaks it.
    public func detach() {
        guard let record, counter > 0 else { return }
        _ = record.takeConnectionForDetach()
        record.removeHolder()
        detachedInfo = record.info
        self.recordStorage = nil
        pool.returnRecord(record)
        if let connection = box?.value {
            context.events.fireDetach(connection, record)
        }
        context.log(.debug, "Connection detached from pool")
    }
}
