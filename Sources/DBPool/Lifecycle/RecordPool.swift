/// What a fairy needs from the pool it came from: the shared context, and the pool-specific step
/// that takes a record back after its `checkin` event (queue it, close it, or forget it).
@usableFromInline
protocol RecordPool<RecordConnection>: AnyObject, Sendable {
    /// Named apart from `Pool.Connection` on purpose: this protocol is visible to inlinable code,
    /// and an associated type of the same name would make `QueuePool<X>.Connection` resolve
    /// through it and look internal to client code.
    associatedtype RecordConnection
    var context: PoolContext<RecordConnection> { get }
    /// Whether this kind is ``QueuePool``: its fairies take the typed return path (see
    /// ``ConnectionFairy/checkIn(_:keepingFairy:)``) and are kept for reuse. Default: `false`.
    static var isQueuePool: Bool { get }
    /// The one way a checkout's record comes back to its pool, once per checkout that handed out
    /// a fairy: after a normal return, a hard invalidation or a dropped fairy (each after the
    /// `checkin` event), or a detach (no event; the detached fairy goes on without the pool).
    ///
    /// `fairy` is the fairy whose checkout this ends, for the kinds that track the current
    /// holder (SingletonThreadPool); `nil` for a failed checkout, and for a fairy dropped without
    /// `close()` whose return runs on the driver threads after its `deinit`.
    func checkIn(_ record: consuming ConnectionRecord<RecordConnection>, from fairy: ConnectionFairy<RecordConnection>?)
    /// Like ``checkIn(_:from:)``, for a record whose checkout failed after the pool picked it
    /// (reconnect, pre-ping or a checkout listener), so no fairy was handed out: it must not
    /// count as a checkout. Default: ``checkIn(_:from:)`` with no fairy.
    func returnFailedCheckout(_ record: ConnectionRecord<RecordConnection>)
    /// Replaces a checked-out record's connection in the middle of its checkout (a failed
    /// pre-ping): QueuePool counts it as a connect. Default: the record reconnects.
    func reconnectDuringCheckout(_ record: ConnectionRecord<RecordConnection>) throws -> ConnectionBox<RecordConnection>
}

extension RecordPool {
    @inlinable
    static var isQueuePool: Bool { false }

    @usableFromInline
    func reconnectDuringCheckout(_ record: ConnectionRecord<RecordConnection>) throws -> ConnectionBox<RecordConnection> {
        try record.getConnectionBox()
    }

    @usableFromInline
    func returnFailedCheckout(_ record: ConnectionRecord<RecordConnection>) {
        checkIn(record, from: nil)
    }
}
