/// The two creator forms a pool accepts: SQLAlchemy's zero-argument creator and the one that
/// receives the record (for creators that read `recordInfo`).
enum Creator<Connection>: Sendable {
    case plain(@Sendable () throws -> Connection)
    case withRecord(@Sendable (ConnectionRecord<Connection>) throws -> Connection)

    func callAsFunction(_ record: ConnectionRecord<Connection>) throws -> Connection {
        switch self {
        case let .plain(make): try make()
        case let .withRecord(make): try make(record)
        }
    }
}
