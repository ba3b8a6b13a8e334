/// What a fairy needs from the pool it came from: the shared context, and the pool-specific step
/// that takes a record back after its `checkin` event (queue it, close it, or forget it).
@usableFromInline
protocol RecordPool<RecordConnection>: AnyObject, Sendable {
    /// Named apart from `Pool.Connection` on purpose: this protocol is visible to inlinable code,
    /// and an associated type of the same name would make `QueuePool<X>.Connection` resolve
    /// through it and look internal to client code.
    associatedtype RecordConnection
    var context: PoolContext<RecordConnection> { get }
    /// Called once per checkout that ends with the record coming back: after a normal return,
    /// a hard invalidation, a detach, or a failed checkout.
    func returnRecord(_ record: ConnectionRecord<RecordConnection>)
    /// Like ``returnRecord(_:)``, for a record whose checkout failed after the pool picked it
    /// (reconnect, pre-ping or a checkout listener): it must not count as a checkout. Default:
    /// ``returnRecord(_:)``.
    func returnFailedCheckout(_ record: ConnectionRecord<RecordConnection>)
    /// Replaces a checked-out record's connection in the middle of its checkout (a failed
    /// pre-ping): QueuePool counts it as a connect. Default: the record reconnects.
    func reconnectDuringCheckout(_ record: ConnectionRecord<RecordConnection>) throws -> ConnectionBox<RecordConnection>
    /// Called when a checked-out fairy's return path is over, so that pool kinds that track
    /// the current holder (SingletonThreadPool, AssertionPool) can forget it. Default: nothing.
    func fairyFinished(_ fairy: ConnectionFairy<RecordConnection>)
}

extension RecordPool {
    @usableFromInline
    func reconnectDuringCheckout(_ record: ConnectionRecord<RecordConnection>) throws -> ConnectionBox<RecordConnection> {
        try record.getConnectionBox()
    }

    @usableFromInline
    func returnFailedCheckout(_ record: ConnectionRecord<RecordConnection>) {
        returnRecord(record)
    }

    @inlinable
    func fairyFinished(_ fairy: ConnectionFairy<RecordConnection>) {}
}
