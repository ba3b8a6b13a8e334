/// A long-lived pool slot that owns at most one driver connection at a time, reconnecting itself
/// when that connection is gone, too old, or invalidated. SQLAlchemy's `_ConnectionRecord`
/// (`ConnectionPoolEntry`).
///
/// A record is created by its pool and connects at once. On each checkout it replaces its
/// connection if it has none, if it is older than `recycle` (strictly greater), if it was
/// soft-invalidated, or if it predates a pool-wide invalidation. ``info`` is cleared whenever the
/// connection is replaced; ``recordInfo`` lives as long as the record.
///
/// Ownership: a record is used by one holder at a time: the pool while it is idle, the holder of
/// its ``ConnectionFairy`` while it is checked out. StaticPool, whose one record is shared, and
/// SingletonThreadPool, which may close another thread's record, guard the record with their lock.
// @unchecked Sendable: mutable state is touched only by the record's current owner (see above);
// the hand-over between owners goes through the pool's lock, which orders the accesses. Where
// a pool kind shares records (StaticPool, SingletonThreadPool), `guardLock` serialises them.
public final class ConnectionRecord<Connection>: PoolSlot, @unchecked Sendable {
    @usableFromInline let context: PoolContext<Connection>
    @usableFromInline let guardLock: RecursiveLock?

    /// The current connection, boxed (see ``ConnectionBox``).
    // The `@exclusivity(unchecked)` fields below skip the run-time exclusivity check (a quarter
    // of a checkout's cost): one holder at a time, handed over through the pool's lock, is the
    // rule that already keeps their accesses apart (see the Sendable note above).
    @usableFromInline @exclusivity(unchecked) var box: ConnectionBox<Connection>?

    /// The driver connection, or `nil` while the record has none (after a hard invalidation, a
    /// detach, or a failed reconnect).
    public var dbapiConnection: Connection? { guarded { box?.value } }
    /// Per-connection scratch space. Cleared whenever the driver connection is replaced.
    public var info: [String: any Sendable] = [:]
    /// Per-record scratch space. Kept for the life of the record.
    public var recordInfo: [String: any Sendable] = [:]
    /// When the current connection was made: the clock reading taken just before the creator ran.
    public private(set) var lastConnectTime: ContinuousClock.Instant?

    /// The pool-wide invalidation generation this connection was made in.
    @usableFromInline @exclusivity(unchecked) var connectGeneration = 0
    /// Set when a connection is made; cleared by the first checkout pass that runs checkout logic,
    /// so that pre-ping skips a connection that was just created. A connection made in the
    /// background (QueuePool's pre-fill, `minIdle`, a replacement) is not fresh: it may sit idle
    /// for a long time before its first checkout, which pings it then.
    @usableFromInline @exclusivity(unchecked) var fresh = false
    /// Set when a connection is made, and taken by the first checkout that asks whether the
    /// connection must be replaced: a connection made for that checkout is used by it, even if
    /// the connect took longer than `recycle` (SQLAlchemy would make it again; a listed
    /// difference). Cleared for a connection made in the background.
    @usableFromInline @exclusivity(unchecked) var madeForCheckout = false
    /// Set by a soft invalidation; the next checkout replaces the connection.
    @usableFromInline @exclusivity(unchecked) var softInvalidated = false
    /// How many fairies hold this record: 0 or 1, except in StaticPool.
    @usableFromInline @exclusivity(unchecked) var holders = 0
    /// This connection's recycle age: `recycle` shortened by `recycleJitter`, drawn at connect.
    @usableFromInline @exclusivity(unchecked) var effectiveRecycle: Duration?
    /// Checkouts served by the current connection, for `maxUsage`.
    @usableFromInline @exclusivity(unchecked) var usageCount = 0
    /// When the record last went idle (QueuePool, when idle timeout or keep-alive is on).
    @usableFromInline @exclusivity(unchecked) var idleSince: ContinuousClock.Instant?
    /// When the record last went idle or passed a keep-alive ping (QueuePool, with keep-alive).
    @usableFromInline @exclusivity(unchecked) var lastPinged: ContinuousClock.Instant?
    /// Where and when the current checkout happened (QueuePool diagnostics). The time is kept as
    /// the context's cheap stamp (see ``PoolContext/readStamp()``); ``checkoutTime``
    /// turns it into an instant when someone asks.
    @usableFromInline @exclusivity(unchecked) var checkoutSite: CheckoutSite?
    @usableFromInline @exclusivity(unchecked) var checkoutStamp: Int64?
    /// Whether the current checkout has already been reported as a possible leak.
    @usableFromInline @exclusivity(unchecked) var leakReported = false
    /// QueuePool only: the fairy of this record's last checkout, kept so that the next checkout
    /// can reuse it instead of allocating, when nothing else references it by then. Set only
    /// while the record is idle (a fairy that is checked out must stay freeable, so that its
    /// `deinit` can return a dropped connection).
    @usableFromInline @exclusivity(unchecked) var spareFairy: ConnectionFairy<Connection>?

    /// When the current checkout happened, if the record is checked out of a QueuePool.
    @usableFromInline var checkoutTime: ContinuousClock.Instant? { checkoutStamp.map(context.instant(fromStamp:)) }

    @inlinable
    func noteCheckout(site: CheckoutSite?) {
        checkoutSite = site
        checkoutStamp = context.readStamp()
        leakReported = false
    }

    @inlinable
    func noteCheckin() {
        checkoutSite = nil
        checkoutStamp = nil
    }

    /// Whether a fairy currently holds this record.
    public var inUse: Bool { guarded { holders > 0 } }

    @inlinable func addHolder() { guarded { holders += 1 } }
    @inlinable func removeHolder() { guarded { holders -= 1 } }

    init(context: PoolContext<Connection>, guardLock: RecursiveLock? = nil) {
        self.context = context
        self.guardLock = guardLock
    }

    /// Creates a record and connects it. On failure the error propagates and any connection that
    /// a failing connect listener left behind is invalidated (closed), so nothing leaks.
    static func connected(context: PoolContext<Connection>, guardLock: RecursiveLock? = nil) throws -> ConnectionRecord<Connection> {
        var creatorFailure: (any Error)?
        return try connected(context: context, guardLock: guardLock, creatorFailure: &creatorFailure)
    }

    /// ``connected(context:guardLock:)``, telling the caller whether the creator itself failed
    /// (the database refused the connection) rather than a connect listener: the attempt outcome
    /// that QueuePool's backoff and statistics need.
    static func connected(context: PoolContext<Connection>, guardLock: RecursiveLock? = nil, creatorFailure: inout (any Error)?) throws -> ConnectionRecord<Connection> {
        let record = ConnectionRecord(context: context, guardLock: guardLock)
        do {
            try record.connect()
        } catch {
            creatorFailure = record.lastCreatorFailure
            // SQLAlchemy drops the half-built record without closing its connection; we close it.
            record.invalidate(error)
            throw error
        }
        return record
    }

    /// The creator's error from the last connect attempt, `nil` if the creator succeeded (a
    /// connect listener may still have failed after it).
    private(set) var lastCreatorFailure: (any Error)?

    /// Whether the next checkout must make a new connection first: the record has none, or its
    /// connection is past `recycle` or `maxUsage`, soft-invalidated, or older than a pool-wide
    /// invalidation. QueuePool's state machine asks before handing the record out, so that such
    /// a connect counts against `maxConnecting` and waits for `connectBackoff` like any other.
    @inlinable
    var needsConnect: Bool {
        if isReady { return false }
        return guarded { box == nil || recycleReason() != nil }
    }

    /// Whether the record holds a connection (ready or not): what `minIdle` counts.
    @usableFromInline var hasConnection: Bool { guarded { box != nil } }

    /// A connection just made with no checkout under way (pre-fill, `minIdle`, a replacement):
    /// its first checkout may come much later, so it neither skips pre-ping nor its age check.
    func madeInBackground() {
        guarded {
            fresh = false
            madeForCheckout = false
        }
    }

    /// Makes the new connection a checkout needs (see ``needsConnect``): closes the old one, if
    /// any, for its reason, then connects. Throws what the creator or a connect listener threw.
    func reconnect() throws {
        try guarded {
            if let connection = box?.value {
                guard let (reason, category) = recycleReason() else { return }
                context.log(.info, "Connection \(reason); recycling")
                closeConnection(connection, terminate: true, reason: category)
            }
            info.removeAll()
            try connect()
        }
    }

    @inlinable
    func guarded<T>(_ body: () throws -> T) rethrows -> T {
        if let guardLock {
            return try guardLock.withLock(body)
        }
        return try body()
    }

    // MARK: Connecting

    func connect() throws {
        box = nil
        let start = context.options.clock.now
        lastConnectTime = start
        connectGeneration = context.currentGeneration
        let connection: Connection
        do {
            connection = try context.creator(self)
        } catch {
            context.counters.connectFailures.wrappingAdd(1, ordering: .relaxed)
            lastCreatorFailure = error
            throw error
        }
        lastCreatorFailure = nil
        context.counters.created.wrappingAdd(1, ordering: .relaxed)
        box = ConnectionBox(connection)
        fresh = true
        madeForCheckout = true
        softInvalidated = false
        usageCount = 0
        effectiveRecycle = context.recycle.map(context.jittered)
        context.log(.info, "Created new connection")
        try context.fireConnectEvents(connection, self)
    }

    /// The checkout-time check: replace the connection when it is missing or due, then return it.
    /// SQLAlchemy's `get_connection()`. The common case (a connection with nothing due) is
    /// inlined into the caller; everything else goes to `getConnectionSlow`.
    @inlinable
    func getConnection() throws -> Connection {
        try getConnectionBox().value
    }

    @inlinable
    func getConnectionBox() throws -> ConnectionBox<Connection> {
        if let box = readyBox() { return box }
        return try getConnectionSlow()
    }

    /// The connection, when it may be used as it is: present, nothing due (no recycle age or
    /// usage limit to check, no invalidation) and no lock to take; `nil` sends the caller to
    /// ``getConnectionBox()``'s slow path. Counts the use.
    @inlinable
    func readyBox() -> ConnectionBox<Connection>? {
        guard isReady, let box else { return nil }
        usageCount &+= 1
        return box
    }

    /// Whether the connection may be used as it is, with no driver call first (see
    /// ``readyBox()``).
    @inlinable
    var isReady: Bool {
        guardLock == nil && box != nil && effectiveRecycle == nil && context.maxUsage == nil && !softInvalidated && !context.isStale(self)
    }

    @usableFromInline
    func getConnectionSlow() throws -> ConnectionBox<Connection> {
        try guarded {
            let justMade = madeForCheckout
            // Also after a connect made here: this checkout is the one it was made for.
            defer { madeForCheckout = false }
            if let connection = box?.value {
                if let (reason, category) = recycleReason(ignoringAge: justMade) {
                    context.log(.info, "Connection \(reason); recycling")
                    closeConnection(connection, terminate: true, reason: category)
                    info.removeAll()
                    try connect()
                } else {
                    usageCount += 1
                    return box!
                }
            } else {
                info.removeAll()
                try connect()
            }
            usageCount = 1
            // connect() either set the connection or threw.
            return box!
        }
    }

    /// Why the connection must be replaced before a checkout uses it, or `nil`. `ignoringAge`:
    /// the connection was made for this checkout (see ``madeForCheckout``).
    @usableFromInline
    func recycleReason(ignoringAge: Bool = false) -> (String, CloseReason)? {
        if !ignoringAge, let recycle = effectiveRecycle, let start = lastConnectTime, context.options.clock.now - start > recycle {
            return ("exceeded recycle age", .recycledByAge)
        }
        if let maxUsage = context.maxUsage, usageCount >= maxUsage {
            return ("served maxUsage (\(maxUsage)) checkouts", .maxUsage)
        }
        if context.isStale(self) { return ("invalidated by a pool-wide invalidation", .poolInvalidated) }
        if softInvalidated { return ("soft-invalidated", .softInvalidated) }
        return nil
    }

    /// Whether the next checkout would replace the connection (none, recycled, soft- or
    /// pool-invalidated). StaticPool uses it to decide whether to start a new record.
    var isHardOrSoftInvalidated: Bool {
        guarded { box == nil || softInvalidated || context.isStale(self) }
    }

    // MARK: Invalidation and closing

    /// Invalidates the record's connection. Hard (the default): fires `invalidate`, then `close`,
    /// and closes the connection through the dialect's `doTerminate`; the record reconnects on its
    /// next checkout. Soft: fires `softInvalidate` and keeps the connection until its next
    /// checkout, which replaces it. Does nothing if the record has no connection.
    ///
    /// This does not return a checked-out record to the pool; use ``ConnectionFairy/invalidate(_:soft:)``
    /// for that.
    public func invalidate(_ error: (any Error)? = nil, soft: Bool = false) {
        guarded {
            guard let connection = box?.value else { return }
            context.events.fireInvalidate(connection, self, error, soft: soft)
            if soft {
                context.log(.info, "Soft-invalidating connection", error: error)
                softInvalidated = true
            } else {
                context.log(.info, "Invalidating connection", error: error)
                closeConnection(connection, terminate: true, reason: .invalidated)
            }
        }
    }

    /// Closes the connection (a `close` event, then the dialect's `doClose`). The record stays
    /// usable and reconnects on its next checkout.
    func close(reason: CloseReason = .disposed) {
        guarded {
            guard let connection = box?.value else { return }
            closeConnection(connection, terminate: false, reason: reason)
        }
    }

    private func closeConnection(_ connection: Connection, terminate: Bool, reason: CloseReason) {
        context.counters.countClose(reason)
        context.events.fireClose(connection, self)
        context.log(.debug, terminate ? "Hard-closing connection" : "Closing connection")
        // A fairy may still hold this box; it must not reset or close the connection again.
        box?.markClosedByRecord()
        box = nil
        context.closeQuietly(connection, terminate: terminate)
    }

    /// Takes the connection out of the record without closing it (`fairy.detach()`).
    func takeConnectionForDetach() -> ConnectionBox<Connection>? {
        guarded {
            let taken = box
            box = nil
            return taken
        }
    }

    /// Fires `checkin` with the current connection (or `nil`), unless nobody listens.
    @inlinable
    func fireCheckin() {
        guard context.events.has(.checkin) else { return }
        fireCheckinSlow()
    }

    @usableFromInline
    func fireCheckinSlow() {
        let connection = guarded { box?.value }
        context.events.fireCheckin(connection, self)
    }
}
