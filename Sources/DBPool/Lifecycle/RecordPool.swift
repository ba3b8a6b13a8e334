/// What a fairy needs from the pool it came from: the shared context, and the pool-specific step
/// that takes a record back after its `checkin` event (queue it, close it, or forget it).
protocol RecordPool<Connection>: AnyObject, Sendable {
    associatedtype Connection
    var context: PoolContext<Connection> { get }
    /// Called once per checkout that ends with the record coming back: after a normal return,
    /// a hard invalidation, a detach, or a failed checkout.
    func returnRecord(_ record: ConnectionRecord<Connection>)
    /// Called when a checked-out fairy's return path is over, so that pool kinds that track
    /// the current holder (SingletonThreadPool, AssertionPool) can forget it. Default: nothing.
    func fairyFinished(_ fairy: ConnectionFairy<Connection>)
}

extension RecordPool {
    func fairyFinished(_ fairy: ConnectionFairy<Connection>) {}
}
