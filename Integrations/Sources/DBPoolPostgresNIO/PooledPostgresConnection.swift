import DBPool
import Logging
import PostgresNIO
import Synchronization

/// A postgres-nio `PostgresConnection` as swift-db-pool's pools hold it: the connection, plus
/// whether a transaction may be open on it, so that the pool rolls back on return only when
/// there may be something to roll back (a plain `SELECT` in autocommit mode leaves nothing open,
/// and skipping the `ROLLBACK` saves a round trip per checkout).
///
/// Why a wrapper: postgres-nio tracks the server's transaction status (from `ReadyForQuery`)
/// internally and does not expose it. So the wrapper tracks it conservatively:
/// - ``query(_:file:line:)`` marks the connection when the statement starts with `BEGIN` or
///   `START` (after whitespace and comments), and unmarks it after a successful `COMMIT`,
///   `END`, `ROLLBACK` or `ABORT` (not `... AND CHAIN`, which keeps one open);
/// - ``withTransaction(isolation:_:)`` does both around its body;
/// - reading ``underlying`` (the raw `PostgresConnection`, for anything else postgres-nio
///   offers) marks it, since the pool cannot see what is sent on it.
///
/// A marked connection is rolled back on return (per `resetOnReturn`), and unmarked after.
///
/// Every statement it sends (``query(_:file:line:)``, ``withTransaction(isolation:_:)``, and the
/// dialect's reset and ping) fails with NIO's `ChannelError.ioOnClosedChannel` when the server has
/// already closed the connection, where postgres-nio's own `query` would never return (a
/// postgres-nio bug; see ``isClosed``). Statements sent on ``underlying`` directly do not get
/// this guard.
public final class PooledPostgresConnection: Sendable {
    private let base: PostgresConnection
    private let mayBeInTransaction = Atomic<Bool>(false)
    /// The connection's event loop as a task executor (an `EventLoop` is a group of one), from
    /// which every statement is sent: see ``send(_:file:line:)`` for why.
    private let sender: EventLoopGroupTaskExecutor
    /// The logger postgres-nio logs this connection's queries to.
    public let logger: Logger

    /// Wraps an open connection.
    public init(_ connection: PostgresConnection, logger: Logger) {
        base = connection
        sender = EventLoopGroupTaskExecutor(connection.eventLoop)
        self.logger = logger
    }

    /// The raw connection. Reading it marks the connection as possibly inside a transaction, so
    /// its next return rolls back: the pool cannot see what is sent on it.
    ///
    /// A statement sent on it directly after the server has closed the connection never
    /// returns (postgres-nio 1.33.2 loses the write; see ``isClosed``): prefer
    /// ``query(_:file:line:)``, which fails such a statement at once.
    public var underlying: PostgresConnection {
        mayBeInTransaction.store(true, ordering: .relaxed)
        return base
    }

    /// The raw connection, for the dialect: reading it marks nothing.
    var unmarked: PostgresConnection { base }

    /// Whether a transaction may be open: the return rolls back only then.
    public var mayHaveOpenTransaction: Bool { mayBeInTransaction.load(ordering: .relaxed) }

    /// postgres-nio's id for the connection (unique per creator).
    public var id: PostgresConnection.ID { base.id }

    /// Whether the underlying connection is closed (its channel is no longer active).
    ///
    /// postgres-nio 1.33.2 never completes a statement written to a connection whose channel
    /// the server has closed: the write fails inside NIO with nowhere to report it (see
    /// vapor/postgres-nio#487, fixed and then reverted by #501). This wrapper therefore checks
    /// `isClosed` and hands the statement to postgres-nio in one job on the connection's event
    /// loop, where the channel cannot close in between.
    public var isClosed: Bool { base.isClosed }

    func transactionEnded() { mayBeInTransaction.store(false, ordering: .relaxed) }

    /// Runs `query` on the connection (postgres-nio's `query(_:logger:file:line:)`), noting a
    /// transaction it opens or ends. Throws NIO's `ChannelError.ioOnClosedChannel` if the
    /// connection is already closed.
    @discardableResult
    public func query(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        let effect = TransactionEffect(of: query.sql)
        if effect == .opens { mayBeInTransaction.store(true, ordering: .relaxed) }
        let rows = try await send(query, file: file, line: line)
        if effect == .ends { transactionEnded() }
        return rows
    }

    /// postgres-nio's `query`, started on the connection's event loop, and refused there if the
    /// channel is no longer active.
    ///
    /// Why this cannot hang on a closed connection: postgres-nio loses a statement whose write
    /// reaches the channel after NIO has removed its handlers, which NIO does in an event-loop
    /// job after the channel became inactive. Here the check and `PostgresConnection.query`'s
    /// write run in one event-loop job (a write made on the loop goes through the pipeline at
    /// once): if the channel is active then, the write reaches postgres-nio's handler, which
    /// answers it or fails it; if not, nothing is written and the statement fails at once.
    ///
    /// (postgres-nio 1.33.2 writes the statement with `promise: nil`, so a write that fails at
    /// the head of a closed pipeline is reported nowhere and the statement's own promise is never
    /// completed; vapor/postgres-nio#487 fixed that and #501 reverted the fix.
    /// `UpstreamPostgresNIOTests` reproduces it with postgres-nio alone.)
    @discardableResult
    func send(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        try await withTaskExecutorPreference(sender) {
            assert(base.eventLoop.inEventLoop, "a statement is sent from the connection's event loop")
            guard !base.isClosed else { throw ChannelError.ioOnClosedChannel }
            return try await base.query(query, logger: logger, file: file, line: line)
        }
    }

    /// Runs `body` in a transaction: `BEGIN`, then `COMMIT` if `body` returns, `ROLLBACK` if it
    /// throws (the error is rethrown). If the `ROLLBACK` fails the connection stays marked, and
    /// the pool's reset rolls back again on return.
    public func withTransaction<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PooledPostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        mayBeInTransaction.store(true, ordering: .relaxed)
        try await send("BEGIN")
        let result: Result
        do {
            result = try await body(self)
        } catch {
            _ = try? await send("ROLLBACK")
            if !base.isClosed { transactionEnded() }
            throw error
        }
        try await send("COMMIT")
        transactionEnded()
        return result
    }
}
