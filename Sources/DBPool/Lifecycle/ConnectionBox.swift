/// Holds one driver connection. Records and fairies keep their connection in a box rather than
/// in a `Connection?` field: an optional of a class is one pointer whatever `Connection` is, so
/// the checkout path never needs the run-time type metadata of `Optional<Connection>`, which
/// unspecialised generic code would look up (and hash) on every copy. One allocation per
/// connect, none per checkout.
@usableFromInline
// Unchecked Sendable, safe because: immutable; the connection inside is used by one holder at a time,
// which the pool enforces (see ConnectionRecord).
final class ConnectionBox<Connection>: @unchecked Sendable {
    @usableFromInline let value: Connection

    @inlinable
    init(_ value: Connection) {
        self.value = value
    }
}
