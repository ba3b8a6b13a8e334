import DBPool
import Logging
import PostgresNIO

/// The `AsyncDialect` for postgres-nio: pools ``PooledPostgresConnection``s.
///
/// - Reset: `ROLLBACK` (or `COMMIT`) only when the connection may have a transaction open
///   (see ``PooledPostgresConnection``); otherwise the return makes no round trip.
/// - Ping: `SELECT 1`.
/// - Close and terminate: `close()` (postgres-nio sends `Terminate` and closes the channel).
/// - Disconnects: postgres-nio's own `PSQLError` codes for a lost connection, the server's
///   SQLSTATEs that mean it is going away, and NIO's closed-channel errors; see
///   ``isDisconnect(_:connection:)``.
///
/// ```swift
/// let pool = try await QueuePool(poolSize: 10, dialect: PostgresNIODialect(),
///                                creator: PostgresNIODialect.creator(host: "db", username: "app", password: pw, database: "app"))
/// let n = try await pool.withConnection { conn in
///     try await conn.dbapiConnection!.query("SELECT count(*) FROM orders").collect().count
/// }
/// ```
public struct PostgresNIODialect: AsyncDialect {
    /// Creates the dialect.
    public init() {}

    /// Whether a transaction may be open: only then does a return roll back (or commit), so a
    /// return after plain queries makes no round trip and needs none of the pool's threads.
    public func needsReset(_ connection: PooledPostgresConnection) -> Bool {
        connection.mayHaveOpenTransaction
    }

    /// `ROLLBACK`, if a transaction may be open.
    public func doRollback(_ connection: PooledPostgresConnection) async throws {
        guard connection.mayHaveOpenTransaction else { return }
        try await connection.send("ROLLBACK")
        connection.transactionEnded()
    }

    /// `COMMIT`, if a transaction may be open.
    public func doCommit(_ connection: PooledPostgresConnection) async throws {
        guard connection.mayHaveOpenTransaction else { return }
        try await connection.send("COMMIT")
        connection.transactionEnded()
    }

    /// Closes the connection.
    public func doClose(_ connection: PooledPostgresConnection) async throws {
        guard !connection.isClosed else { return }
        try await connection.unmarked.close()
    }

    /// `SELECT 1`: `true` if it succeeds, `false` for a disconnect error.
    public func doPing(_ connection: PooledPostgresConnection) async throws -> Bool {
        guard !connection.isClosed else { return false }
        do {
            try await connection.send("SELECT 1")
            return true
        } catch {
            if isDisconnect(error, connection: connection) { return false }
            throw error
        }
    }

    /// Whether `error` means the connection is gone:
    /// - a `PSQLError` whose code is `serverClosedConnection` (`connectionClosed`),
    ///   `clientClosedConnection`, `connectionError`, `uncleanShutdown`,
    ///   `messageDecodingFailure` or `unexpectedBackendMessage` (the protocol stream is broken);
    /// - a server error (`PSQLError.Code.server`) with SQLSTATE class `08` (connection
    ///   exception) or `57P01` admin shutdown (`pg_terminate_backend`), `57P02` crash shutdown,
    ///   `57P03` cannot connect now;
    /// - NIO's `ChannelError.ioOnClosedChannel`, `.alreadyClosed`, `.eof`, or an `IOError`;
    /// - or any of these wrapped in a `PostgresTransactionError`.
    public func isDisconnect(_ error: any Error, connection: PooledPostgresConnection?) -> Bool {
        Self.isDisconnect(error)
    }

    static func isDisconnect(_ error: any Error) -> Bool {
        switch error {
        case let error as PSQLError:
            switch error.code {
            case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown,
                .messageDecodingFailure, .unexpectedBackendMessage:
                return true
            case .server:
                guard let state = error.serverInfo?[.sqlState] else { return false }
                return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
            default:
                return error.underlying.map(isDisconnect) ?? false
            }
        case let error as ChannelError:
            switch error {
            case .ioOnClosedChannel, .alreadyClosed, .eof: return true
            default: return false
            }
        case is IOError:
            return true
        case let error as PostgresTransactionError:
            return [error.beginError, error.closureError, error.commitError, error.rollbackError]
                .contains { $0.map(isDisconnect) ?? false }
        default:
            return false
        }
    }
}
