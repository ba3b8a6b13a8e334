/// QueuePool's side of the fairy's one return path (``RecordPool/checkIn(_:from:)``): the record
/// goes through ``returnRecord(_:)``, the entry point the state machine's interpreter owns.
extension QueuePool {
    /// `true`: fairies of a QueuePool take the typed return path and are kept for reuse.
    @inlinable
    static var isQueuePool: Bool { true }

    /// Inlinable, like ``returnRecord(_:)``: the fairy's return path calls it on the concrete
    /// type, so that it is specialised for the caller's connection type.
    @inlinable
    func checkIn(_ record: consuming Record, from fairy: ConnectionFairy<Connection>?) {
        returnRecord(record)
    }
}
