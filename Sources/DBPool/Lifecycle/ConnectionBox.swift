import Synchronization

/// Holds one driver connection. Records and fairies keep their connection in a box rather than
/// in a `Connection?` field: an optional of a class is one pointer whatever `Connection` is, so
/// the checkout path never needs the run-time type metadata of `Optional<Connection>`, which
/// unspecialised generic code would look up (and hash) on every copy. One allocation per
/// connect, none per checkout.
///
/// The record and its checked-out fairy share one box, so the box is also where the record tells
/// the fairy that the connection is gone: once the record has closed it (a hard invalidation,
/// `dispose()`, a SingletonThreadPool cleanup), the fairy must never call the driver on it again.
@usableFromInline
// Unchecked Sendable, safe because: `value` is immutable and used by one holder at a time, which
// the pool enforces (see ConnectionRecord); the closed flag is atomic, because the record may be
// closed by another thread than the fairy's holder (StaticPool, SingletonThreadPool).
final class ConnectionBox<Connection>: @unchecked Sendable {
    /// Declared before `value`, so that its offset does not depend on `Connection`.
    @usableFromInline let closedByRecord = Atomic<Bool>(false)
    @usableFromInline let value: Connection

    @inlinable
    init(_ value: Connection) {
        self.value = value
    }

    /// Whether the record has closed this connection. Relaxed: the flag orders nothing else; a
    /// reader only decides whether to leave the connection alone.
    @inlinable
    var isClosedByRecord: Bool { closedByRecord.load(ordering: .relaxed) }

    func markClosedByRecord() {
        closedByRecord.store(true, ordering: .relaxed)
    }
}
