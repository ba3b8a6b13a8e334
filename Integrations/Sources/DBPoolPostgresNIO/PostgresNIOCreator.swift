import DBPool
import Logging
import PostgresNIO
import Synchronization

extension PostgresNIODialect {
    /// Connection ids for postgres-nio's log metadata, unique across creators.
    private static let nextID = Atomic<Int>(0)

    /// An async creator for a pool over ``PostgresNIODialect``: connects with `configuration`
    /// on `eventLoopGroup` (postgres-nio's default group when `nil`), logging to `logger`.
    public static func creator(
        configuration: PostgresConnection.Configuration,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "dbpool.postgres-nio")
    ) -> @Sendable () async throws -> PooledPostgresConnection {
        { () async throws -> PooledPostgresConnection in
            let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
            let eventLoop = (eventLoopGroup ?? PostgresConnection.defaultEventLoopGroup).any()
            let connection = try await PostgresConnection.connect(on: eventLoop, configuration: configuration, id: id, logger: logger)
            return PooledPostgresConnection(connection, logger: logger)
        }
    }

    /// An async creator from a server's address, the role, its password, the database and the
    /// TLS mode (`.disable`, `.prefer(context)` or `.require(context)`). Throws
    /// `PoolError.invalidArgument(_:)` for a port outside 1...65535 or an empty host
    /// or user name.
    public static func creator(
        host: String, port: Int = 5432, username: String, password: String?, database: String?,
        tls: PostgresConnection.Configuration.TLS = .disable,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "dbpool.postgres-nio")
    ) throws -> @Sendable () async throws -> PooledPostgresConnection {
        guard (1...65_535).contains(port) else {
            throw PoolError.invalidArgument("port must be between 1 and 65535; got \(port)")
        }
        guard !host.isEmpty else { throw PoolError.invalidArgument("host must be a non-empty host name or address; got \"\"") }
        guard !username.isEmpty else { throw PoolError.invalidArgument("username must be a non-empty role name; got \"\"") }
        let configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        return creator(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
    }
}
