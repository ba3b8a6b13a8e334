/// A connection pool: SQLAlchemy's `Pool`. Five kinds conform: ``QueuePool``, ``NullPool``,
/// ``StaticPool``, ``SingletonThreadPool`` and ``AssertionPool``.
///
/// Check a connection out with `connect()` (blocking or `async`) and give it back with
/// ``ConnectionFairy/close()``, or let `withConnection` do both. Every pool is safe to use from
/// many threads and tasks at once.
///
/// `connect()` and `withConnection` are protocol-extension methods that capture the caller's
/// `#fileID` and `#line` (for AssertionPool's report and leak diagnostics) and forward to the
/// `checkout(at:)` requirements, which each pool kind implements.
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
    /// The threads on which async callers' driver work runs (see ``PoolOptions/driverThreads``);
    /// `nil` when it runs inline.
    var driverExecutor: DriverExecutor? { get }
    /// Where an async `withConnection` runs its body: ``driverExecutor`` for a blocking driver,
    /// `nil` (where the caller runs) for a pool over an ``AsyncDialect``, whose calls suspend
    /// rather than block. The default is ``driverExecutor``.
    var bodyExecutor: DriverExecutor? { get }

    /// Shuts the pool down gracefully, blocking the calling thread: new checkouts and queued
    /// waiters fail with ``PoolError/shutDown``, idle connections are closed, and connections
    /// still checked out are closed as they come back. Waits up to `gracePeriod` for them and
    /// returns how many were still out when it ended (each is closed when it is returned, never
    /// under its holder's feet). Calling it again waits again and reports again. Not in
    /// SQLAlchemy, whose pools have only `dispose()`.
    @discardableResult
    func shutdown(gracePeriod: Duration) -> Int
    /// The async form of ``shutdown(gracePeriod:)-(Duration)->Int``: suspends instead of blocking
    /// while it waits, runs the closes on the pool's driver threads, and stops waiting as soon as
    /// the task is cancelled (the pool is shut down all the same).
    @discardableResult
    func shutdown(gracePeriod: Duration) async -> Int
}

extension Pool {
    /// ``driverExecutor``: a blocking driver's body runs on the driver threads.
    public var bodyExecutor: DriverExecutor? { driverExecutor }

    /// Checks a connection out, blocking while the pool is at its limit, up to its timeout.
    /// Give it back with ``ConnectionFairy/close()``.
    ///
    /// Unavailable from async code, where it would block one of Swift's few cooperative threads
    /// while it waits and while the driver connects or pings; use `try await pool.connect()` there.
    @inlinable
    @available(*, noasync, message: "blocks the thread while it waits and connects; use 'try await pool.connect()' in async code")
    public func connect(fileID: StaticString = #fileID, line: UInt = #line) throws -> ConnectionFairy<Connection> {
        try checkout(at: CheckoutSite(fileID: fileID, line: line))
    }

    /// Checks a connection out, suspending while the pool is at its limit, up to its timeout.
    /// Throws `CancellationError` promptly if the task is cancelled while waiting.
    ///
    /// Driver work the checkout needs (connecting, pre-ping, checkout listeners) runs on the
    /// pool's driver threads (``PoolOptions/driverThreads``); a checkout that finds an idle
    /// connection with nothing due makes no driver call and no thread hop. ``ConnectionFairy/close()``
    /// on the connection, called from async code, runs the reset on those threads too, without
    /// waiting for it. Prefer `withConnection`, whose body runs on those threads as well.
    @inlinable
    public func connect(fileID: StaticString = #fileID, line: UInt = #line) async throws -> ConnectionFairy<Connection> {
        try await checkout(at: CheckoutSite(fileID: fileID, line: line))
    }

    /// Runs `body` with a checked-out connection and always returns it, even when `body` throws.
    ///
    /// If `body` throws an error that the dialect's `isDisconnect` recognises, the connection is
    /// invalidated and ``Pool/invalidateAll(triggeredBy:error:)`` runs before the error is rethrown,
    /// as SQLAlchemy's `Engine` does, so that the other connections made before the failure are
    /// replaced on their next checkout.
    ///
    /// Unavailable from async code, where it would block a cooperative thread; the async form is
    /// chosen there, for a synchronous body too (this overload is disfavoured so that a
    /// synchronous body does not pick it and then fail to compile).
    @_disfavoredOverload
    @inlinable
    @available(*, noasync, message: "blocks the thread while it waits and while the body runs; use 'try await pool.withConnection' in async code")
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
    ///
    /// Where it runs: the checkout's driver work and `body` run with the pool's
    /// ``Pool/driverExecutor`` preferred (Swift's task executor preference), on threads the pool owns,
    /// so a driver call that blocks inside `body` holds one of those threads and never one of
    /// Swift's cooperative threads. Called from an actor, `body` keeps that actor's isolation and
    /// may touch its state; a default actor then runs on the pool's thread while `body` runs. The
    /// main actor and actors with their own executor keep their executor. With
    /// ``DriverThreads/inline`` everything runs where the caller runs. Over an ``AsyncDialect``
    /// (see ``Pool/bodyExecutor``) `body` runs where the caller runs: its driver calls suspend.
    ///
    /// The result is `sending`, so a non-`Sendable` value may be returned to the caller.
    @inlinable
    public func withConnection<R>(
        isolation: isolated (any Actor)? = #isolation,
        fileID: StaticString = #fileID, line: UInt = #line,
        _ body: (ConnectionFairy<Connection>) async throws -> sending R
    ) async throws -> sending R {
        let site = CheckoutSite(fileID: fileID, line: line)
        guard let executor = bodyExecutor else {
            // Nothing to prefer (`.inline`, or an async driver): skip the preference's task
            // bookkeeping and the result box, a large part of a cycle that does no other work.
            let fairy = try await checkout(at: site)
            defer { fairy.close() }
            do {
                return try await body(fairy)
            } catch {
                handleBodyError(error, fairy: fairy)
                throw error
            }
        }
        let result = try await withTaskExecutorPreference(executor, isolation: isolation) {
            let fairy = try await checkout(at: site)
            defer { fairy.close() }
            do {
                return SendingBox(try await body(fairy))
            } catch {
                handleBodyError(error, fairy: fairy)
                throw error
            }
        }
        return result.take()
    }

    @usableFromInline
    internal func handleBodyError(_ error: any Error, fairy: ConnectionFairy<Connection>) {
        guard fairy.isValid, fairy.context.dialect.isDisconnect(error, connection: fairy.dbapiConnection) else { return }
        invalidateAll(triggeredBy: fairy, error: error)
    }
}
