import Synchronization

/// The pool's event hooks: SQLAlchemy's `PoolEvents`, with the same ten events, argument lists
/// and ordering.
///
/// Listeners run synchronously on the thread doing the operation, in registration order
/// (`prepend: true` puts one first). A listener that throws stops the remaining listeners for that
/// event; for `firstConnect`, `connect` and `checkout` the error propagates to the caller of
/// `connect()` (a ``DisconnectionError`` from a checkout listener makes the pool reconnect and try
/// again). `checkin`, `reset`, `invalidate`, `softInvalidate`, `close`, `detach` and
/// `closeDetached` listeners cannot throw.
///
/// `recreate()` copies the listeners registered at that moment to the new pool. Class-level
/// listeners (SQLAlchemy's `event.listen(Pool, ...)`) have no equivalent here.
public final class PoolEvents<Connection>: Sendable {
    /// `(connection, record)`; may throw.
    public typealias ConnectListener = @Sendable (Connection, ConnectionRecord<Connection>) throws -> Void
    /// `(connection, record, fairy)`; may throw.
    public typealias CheckoutListener = @Sendable (Connection, ConnectionRecord<Connection>, ConnectionFairy<Connection>) throws -> Void
    /// `(connection or nil, record)`.
    public typealias CheckinListener = @Sendable (Connection?, ConnectionRecord<Connection>) -> Void
    /// `(connection, record or nil, state)`.
    public typealias ResetListener = @Sendable (Connection, ConnectionRecord<Connection>?, PoolResetState) -> Void
    /// `(connection, record, error or nil)`.
    public typealias InvalidateListener = @Sendable (Connection, ConnectionRecord<Connection>, (any Error)?) -> Void
    /// `(connection, record)`.
    public typealias RecordListener = @Sendable (Connection, ConnectionRecord<Connection>) -> Void
    /// `(connection)`.
    public typealias ConnectionListener = @Sendable (Connection) -> Void

    struct Entry<L: Sendable>: Sendable {
        var id: Int
        var listener: L
    }

    struct Registry: Sendable {
        var nextID = 0
        var firstConnect: [Entry<ConnectListener>] = []
        var connect: [Entry<ConnectListener>] = []
        var checkout: [Entry<CheckoutListener>] = []
        var checkin: [Entry<CheckinListener>] = []
        var reset: [Entry<ResetListener>] = []
        var invalidate: [Entry<InvalidateListener>] = []
        var softInvalidate: [Entry<InvalidateListener>] = []
        var close: [Entry<RecordListener>] = []
        var detach: [Entry<RecordListener>] = []
        var closeDetached: [Entry<ConnectionListener>] = []

        var mask: Int {
            var m = 0
            if !firstConnect.isEmpty { m |= PoolEventKind.firstConnect.rawValue }
            if !connect.isEmpty { m |= PoolEventKind.connect.rawValue }
            if !checkout.isEmpty { m |= PoolEventKind.checkout.rawValue }
            if !checkin.isEmpty { m |= PoolEventKind.checkin.rawValue }
            if !reset.isEmpty { m |= PoolEventKind.reset.rawValue }
            if !invalidate.isEmpty { m |= PoolEventKind.invalidate.rawValue }
            if !softInvalidate.isEmpty { m |= PoolEventKind.softInvalidate.rawValue }
            if !close.isEmpty { m |= PoolEventKind.close.rawValue }
            if !detach.isEmpty { m |= PoolEventKind.detach.rawValue }
            if !closeDetached.isEmpty { m |= PoolEventKind.closeDetached.rawValue }
            return m
        }

        mutating func remove(_ id: Int) {
            firstConnect.removeAll { $0.id == id }
            connect.removeAll { $0.id == id }
            checkout.removeAll { $0.id == id }
            checkin.removeAll { $0.id == id }
            reset.removeAll { $0.id == id }
            invalidate.removeAll { $0.id == id }
            softInvalidate.removeAll { $0.id == id }
            close.removeAll { $0.id == id }
            detach.removeAll { $0.id == id }
            closeDetached.removeAll { $0.id == id }
        }
    }

    private let registry: Locked<Registry>
    @usableFromInline let activeKinds: Atomic<Int>

    /// Creates an empty set of listeners.
    public init() {
        registry = Locked(Registry())
        activeKinds = Atomic(0)
    }

    init(copying other: PoolEvents<Connection>) {
        let copy = other.registry.withLock { $0 }
        registry = Locked(copy)
        activeKinds = Atomic(copy.mask)
    }

    private func add<L: Sendable>(_ keyPath: WritableKeyPath<Registry, [Entry<L>]>, prepend: Bool, _ listener: L) -> ListenerToken {
        let id = registry.withLock { registry -> Int in
            let id = registry.nextID
            registry.nextID += 1
            let entry = Entry(id: id, listener: listener)
            if prepend {
                registry[keyPath: keyPath].insert(entry, at: 0)
            } else {
                registry[keyPath: keyPath].append(entry)
            }
            activeKinds.store(registry.mask, ordering: .releasing)
            return id
        }
        return ListenerToken(id: id)
    }

    /// Listens for the first connection the pool instance ever makes, before its `connect` event.
    /// Runs once per pool instance, unless a listener throws, in which case it runs again on the
    /// next new connection. A recreated pool runs it again.
    @discardableResult
    public func onFirstConnect(prepend: Bool = false, _ listener: @escaping ConnectListener) -> ListenerToken {
        add(\.firstConnect, prepend: prepend, listener)
    }

    /// Listens for every new driver connection a record gets: a new record, or a reconnect after
    /// invalidation, recycle or pool-wide invalidation. Not for a creator call that failed. If a
    /// listener throws, the new connection is not handed out and the error propagates.
    @discardableResult
    public func onConnect(prepend: Bool = false, _ listener: @escaping ConnectListener) -> ListenerToken {
        add(\.connect, prepend: prepend, listener)
    }

    /// Listens for each outermost checkout, after any pre-ping and reconnect. Throwing
    /// ``DisconnectionError`` makes the pool invalidate the connection, reconnect and run the
    /// checkout listeners again (two passes at most, then ``PoolError/connectionClosed``). Any other
    /// error invalidates the connection, returns the record and propagates.
    @discardableResult
    public func onCheckout(prepend: Bool = false, _ listener: @escaping CheckoutListener) -> ListenerToken {
        add(\.checkout, prepend: prepend, listener)
    }

    /// Listens for each return of a record to the pool, after `reset` and the rollback or commit.
    /// The connection is `nil` when the record comes back invalidated. Never for detached fairies.
    @discardableResult
    public func onCheckin(prepend: Bool = false, _ listener: @escaping CheckinListener) -> ListenerToken {
        add(\.checkin, prepend: prepend, listener)
    }

    /// Listens for each reset on the return path, before the pool's rollback or commit, including
    /// the close of a detached fairy (record `nil`, `terminateOnly`). Not for invalidated connections.
    @discardableResult
    public func onReset(prepend: Bool = false, _ listener: @escaping ResetListener) -> ListenerToken {
        add(\.reset, prepend: prepend, listener)
    }

    /// Listens for hard invalidations of a record that has a connection, before the connection is
    /// closed.
    @discardableResult
    public func onInvalidate(prepend: Bool = false, _ listener: @escaping InvalidateListener) -> ListenerToken {
        add(\.invalidate, prepend: prepend, listener)
    }

    /// Listens for soft invalidations (`invalidate(soft: true)`) of a record that has a connection.
    @discardableResult
    public func onSoftInvalidate(prepend: Bool = false, _ listener: @escaping InvalidateListener) -> ListenerToken {
        add(\.softInvalidate, prepend: prepend, listener)
    }

    /// Listens for the closing of a pooled record's connection: dispose, overflow discard, NullPool
    /// return, hard invalidation, recycle. Not for an ordinary return.
    @discardableResult
    public func onClose(prepend: Bool = false, _ listener: @escaping RecordListener) -> ListenerToken {
        add(\.close, prepend: prepend, listener)
    }

    /// Listens for `fairy.detach()`, after the connection has left its record.
    @discardableResult
    public func onDetach(prepend: Bool = false, _ listener: @escaping RecordListener) -> ListenerToken {
        add(\.detach, prepend: prepend, listener)
    }

    /// Listens for the closing of a detached connection, after its `reset`.
    @discardableResult
    public func onCloseDetached(prepend: Bool = false, _ listener: @escaping ConnectionListener) -> ListenerToken {
        add(\.closeDetached, prepend: prepend, listener)
    }

    /// Removes a listener. Removing one that is already gone does nothing.
    public func remove(_ token: ListenerToken) {
        registry.withLock { registry in
            registry.remove(token.id)
            activeKinds.store(registry.mask, ordering: .releasing)
        }
    }

    // MARK: Firing (internal)

    @inlinable
    func has(_ kind: PoolEventKind) -> Bool {
        activeKinds.load(ordering: .acquiring) & kind.rawValue != 0
    }

    func listeners<L: Sendable>(_ keyPath: KeyPath<Registry, [Entry<L>]>) -> [Entry<L>] {
        registry.withLock { $0[keyPath: keyPath] }
    }

    func fireFirstConnect(_ c: Connection, _ r: ConnectionRecord<Connection>) throws {
        guard has(.firstConnect) else { return }
        for e in listeners(\.firstConnect) { try e.listener(c, r) }
    }

    func fireConnect(_ c: Connection, _ r: ConnectionRecord<Connection>) throws {
        guard has(.connect) else { return }
        for e in listeners(\.connect) { try e.listener(c, r) }
    }

    func fireCheckout(_ c: Connection, _ r: ConnectionRecord<Connection>, _ f: ConnectionFairy<Connection>) throws {
        guard has(.checkout) else { return }
        for e in listeners(\.checkout) { try e.listener(c, r, f) }
    }

    func fireCheckin(_ c: Connection?, _ r: ConnectionRecord<Connection>) {
        guard has(.checkin) else { return }
        for e in listeners(\.checkin) { e.listener(c, r) }
    }

    @inlinable
    func fireReset(_ c: Connection, _ r: ConnectionRecord<Connection>?, _ s: PoolResetState) {
        guard has(.reset) else { return }
        fireResetListeners(c, r, s)
    }

    @usableFromInline
    func fireResetListeners(_ c: Connection, _ r: ConnectionRecord<Connection>?, _ s: PoolResetState) {
        for e in listeners(\.reset) { e.listener(c, r, s) }
    }

    func fireInvalidate(_ c: Connection, _ r: ConnectionRecord<Connection>, _ error: (any Error)?, soft: Bool) {
        if soft {
            guard has(.softInvalidate) else { return }
            for e in listeners(\.softInvalidate) { e.listener(c, r, error) }
        } else {
            guard has(.invalidate) else { return }
            for e in listeners(\.invalidate) { e.listener(c, r, error) }
        }
    }

    func fireClose(_ c: Connection, _ r: ConnectionRecord<Connection>) {
        guard has(.close) else { return }
        for e in listeners(\.close) { e.listener(c, r) }
    }

    func fireDetach(_ c: Connection, _ r: ConnectionRecord<Connection>) {
        guard has(.detach) else { return }
        for e in listeners(\.detach) { e.listener(c, r) }
    }

    func fireCloseDetached(_ c: Connection) {
        guard has(.closeDetached) else { return }
        for e in listeners(\.closeDetached) { e.listener(c) }
    }
}

/// One bit per event, so the hot path can skip an event with no listeners without locking.
/// The kinds are computed, not stored: a stored static is a lazily initialised global, and the
/// hot path would call its accessor on every check.
@usableFromInline
struct PoolEventKind: OptionSet, Sendable {
    @usableFromInline let rawValue: Int
    @inlinable init(rawValue: Int) { self.rawValue = rawValue }
    @inlinable static var firstConnect: PoolEventKind { PoolEventKind(rawValue: 1 << 0) }
    @inlinable static var connect: PoolEventKind { PoolEventKind(rawValue: 1 << 1) }
    @inlinable static var checkout: PoolEventKind { PoolEventKind(rawValue: 1 << 2) }
    @inlinable static var checkin: PoolEventKind { PoolEventKind(rawValue: 1 << 3) }
    @inlinable static var reset: PoolEventKind { PoolEventKind(rawValue: 1 << 4) }
    @inlinable static var invalidate: PoolEventKind { PoolEventKind(rawValue: 1 << 5) }
    @inlinable static var softInvalidate: PoolEventKind { PoolEventKind(rawValue: 1 << 6) }
    @inlinable static var close: PoolEventKind { PoolEventKind(rawValue: 1 << 7) }
    @inlinable static var detach: PoolEventKind { PoolEventKind(rawValue: 1 << 8) }
    @inlinable static var closeDetached: PoolEventKind { PoolEventKind(rawValue: 1 << 9) }
}
