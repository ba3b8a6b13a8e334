/// A connection pool: SQLAlchemy's `Pool`. Five kinds conform: ``QueuePool``, ``NullPool``,
/// ``StaticPool``, ``SingletonThreadPool`` and ``AssertionPool``.
///
/// Check a connection out with `connect()` (blocking or `async`) and give it back with
/// ``ConnectionFairy/close()``, or let `withConnection` do both. Every pool is safe to use from
/// many threads and tasks at once.
///
/// `connect()` and `withConnection` are protocol-extension methods that capture the caller's
/// `#fileID` and `#line` (for AssertionPool's report and leak diagnostics) and forward to the
/// ``checkout(at:)`` requirements, which each pool kind implements.
public protocol Pool<Connection>: AnyObject, Sendable {
    /// The driver's connection type.
    associatedtype Connection

    /// Checks a connection out, blocking the calling thread while the pool is at its limit, up to
    /// the pool's timeout. Call `connect()` instead; it fills in the call site.
    func checkout(at site: CheckoutSite) throws -> ConnectionFairy<Connection>
    /// Checks a connection out, suspending (never blocking a thread) while the pool is at its
    /// limit, up to the pool's timeout. Throws `CancellationError` if the task is cancelled while
    /// it waits. Call `connect()` instead; it fills in the call site.
    func checkout(at site: CheckoutSite) async throws -> ConnectionFairy<Connection>
    /// Closes the pool's idle connections. Checked-out connections are left alone and are pooled
    /// normally when they come back.
    func dispose()
    /// A new, empty pool of the same kind and configuration, with a copy of the listeners.
    func recreate() -> Self
    /// A one-line description of the pool's state, in SQLAlchemy's format.
    func status() -> String
    /// Pool-wide invalidation (SQLAlchemy's `pool._invalidate`): every connection created before
    /// now is replaced on its next checkout, and `fairy`, if given and still valid, is
    /// hard-invalidated at once. A failure reported by a connection older than the last
    /// invalidation does not move the boundary again.
    func invalidateAll(triggeredBy fairy: ConnectionFairy<Connection>?, error: (any Error)?)
    /// A snapshot of the pool's state and cumulative counters. O(1).
    var statistics: PoolStatistics { get }
    /// The pool's event hooks.
    var events: PoolEvents<Connection> { get }
    /// The options the pool was created with.
    var options: PoolOptions { get }
}

extension Pool {
    /// Checks a connection out, blocking while the pool is at its limit, up to its timeout.
    /// Give it back with ``ConnectionFairy/close()``.
    @inlinable
    public func connect(fileID: StaticString = #fileID, line: UInt = #line) throws -> ConnectionFairy<Connection> {
        try checkout(at: CheckoutSite(fileID: fileID, line: line))
    }

    /// Checks a connection out, suspending while the pool is at its limit, up to its timeout.
    /// Throws `CancellationError` promptly if the task is cancelled while waiting.
    @inlinable
    public func connect(fileID: StaticString = #fileID, line: UInt = #line) async throws -> ConnectionFairy<Connection> {
        try await checkout(at: CheckoutSite(fileID: fileID, line: line))
    }

    /// Runs `body` with a checked-out connection and always returns it, even when `body` throws.
    ///
    /// If `body` throws an error that the dialect's `isDisconnect` recognises, the connection is
    /// invalidated and ``invalidateAll(triggeredBy:error:)`` runs before the error is rethrown,
    /// as SQLAlchemy's `Engine` does, so that the other connections made before the failure are
    /// replaced on their next checkout.
    ///
    /// Disfavoured so that inside async code the suspending overload wins even for a synchronous
    /// body; otherwise a waiting caller would block a cooperative thread.
    @_disfavoredOverload
    @inlinable
    public func withConnection<R>(
        fileID: StaticString = #fileID, line: UInt = #line,
        _ body: (ConnectionFairy<Connection>) throws -> R
    ) throws -> R {
        let fairy = try checkout(at: CheckoutSite(fileID: fileID, line: line))
        defer { fairy.close() }
        do {
            return try body(fairy)
        } catch {
            handleBodyError(error, fairy: fairy)
            throw error
        }
    }

    /// Runs `body` with a checked-out connection and always returns it, even when `body` throws
    /// or the task is cancelled. Disconnect errors are handled as in the blocking form.
    @inlinable
    public func withConnection<R>(
        fileID: StaticString = #fileID, line: UInt = #line,
        _ body: (ConnectionFairy<Connection>) async throws -> R
    ) async throws -> R {
        let fairy = try await checkout(at: CheckoutSite(fileID: fileID, line: line))
        defer { fairy.close() }
        do {
            return try await body(fairy)
        } catch {
            handleBodyError(error, fairy: fairy)
            throw error
        }
    }

    @usableFromInline
    internal func handleBodyError(_ error: any Error, fairy: ConnectionFairy<Connection>) {
        guard fairy.isValid, fairy.context.dialect.isDisconnect(error, connection: fairy.dbapiConnection) else { return }
        invalidateAll(triggeredBy: fairy, error: error)
    }
}
