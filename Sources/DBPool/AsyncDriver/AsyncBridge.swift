import Dispatch

/// Runs one async driver call for the pool's synchronous lifecycle: the call runs in a detached
/// task on Swift's global concurrent executor while the calling thread, which must be one the
/// pool owns, waits on a semaphore.
///
/// Why a detached task and never the driver executor: the waiting thread is a driver thread, and
/// work queued on the driver executor could sit behind every driver thread waiting at once, so
/// the pool would deadlock. The global executor's threads never wait here, so the call always
/// finds one.
///
/// Why only pool-owned threads: waiting holds the thread. On one of Swift's cooperative threads
/// that would stall unrelated tasks, and on a caller's thread it would be a blocking API in
/// disguise; both are refused with ``PoolError/unsupported(_:)``.
@usableFromInline
enum AsyncBridge {
    /// The message of the error thrown when the blocking API is used on an async-driver pool.
    @usableFromInline static let blockingAPIMessage =
        "this pool holds an async driver (an AsyncDialect); it cannot be used from the blocking API (connect(), withConnection, checkout(at:) without await). Use 'try await pool.connect()' or 'try await pool.withConnection'"

    /// Runs `operation` and waits for its result. Throws ``PoolError/unsupported(_:)`` without
    /// running it when the caller is not a thread the pool owns.
    static func wait<T>(_ what: String, _ operation: @escaping @Sendable () async throws -> T) throws -> T {
        guard PoolOwnedThread.isCurrent else {
            throw PoolError.unsupported("an async driver's \(what) can only be waited for on the pool's own threads, never on a cooperative or caller's thread; use the pool's async API")
        }
        let cell = Rendezvous<T>()
        Task.detached {
            do {
                cell.result = .success(try await operation())
            } catch {
                cell.result = .failure(error)
            }
            cell.done.signal()
        }
        cell.done.wait()
        return try cell.result!.get()
    }

    /// A close or terminate: waited for on a pool-owned thread; elsewhere (a `dispose()` or the
    /// pool's `deinit` on a caller's thread) started without waiting, so that the connection is
    /// still closed and the caller is not held. Its error is then dropped, as a close's error
    /// is only ever logged.
    static func close(_ what: String, _ operation: @escaping @Sendable () async throws -> Void) throws {
        guard PoolOwnedThread.isCurrent else {
            Task.detached { try? await operation() }
            return
        }
        try wait(what, operation)
    }
}

/// One async call's result, handed from the task that ran it to the thread that waits.
// @unchecked Sendable: `result` is written once, by the task, before `done.signal()`, and read
// only by the waiting thread after `done.wait()` returns; the semaphore orders the two.
private final class Rendezvous<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
    let done = DispatchSemaphore(value: 0)
}

/// A value moved into the task that runs an async driver call.
// @unchecked Sendable: the pool gives a connection (or record) to one holder at a time, and the
// holder's thread waits while the task uses it (``AsyncBridge/wait(_:_:)``), so the two never
// touch it at once. A close started without waiting gets a connection the pool has let go of.
struct Handed<Value>: @unchecked Sendable {
    let value: Value
}

/// An ``AsyncDialect`` seen as the synchronous ``Dialect`` the pool's lifecycle calls, each call
/// run through ``AsyncBridge``.
struct AsyncDialectBridge<Base: AsyncDialect>: Dialect, ResetQuerying {
    typealias Connection = Base.Connection
    let base: Base

    func needsReset(_ connection: Connection) -> Bool { base.needsReset(connection) }

    func doRollback(_ connection: Connection) throws {
        // Nothing to roll back: no call, so no thread waits for a task.
        guard base.needsReset(connection) else { return }
        let handed = Handed(value: connection), base = self.base
        try AsyncBridge.wait("rollback") { try await base.doRollback(handed.value) }
    }

    func doCommit(_ connection: Connection) throws {
        guard base.needsReset(connection) else { return }
        let handed = Handed(value: connection), base = self.base
        try AsyncBridge.wait("commit") { try await base.doCommit(handed.value) }
    }

    func doClose(_ connection: Connection) throws {
        let handed = Handed(value: connection), base = self.base
        try AsyncBridge.close("close") { try await base.doClose(handed.value) }
    }

    func doTerminate(_ connection: Connection) throws {
        let handed = Handed(value: connection), base = self.base
        try AsyncBridge.close("terminate") { try await base.doTerminate(handed.value) }
    }

    func doPing(_ connection: Connection) throws -> Bool {
        let handed = Handed(value: connection), base = self.base
        return try AsyncBridge.wait("ping") { try await base.doPing(handed.value) }
    }

    func isDisconnect(_ error: any Error, connection: Connection?) -> Bool {
        base.isDisconnect(error, connection: connection)
    }
}

extension Creator {
    /// An async creator that takes no argument, run through ``AsyncBridge``.
    static func async(_ make: @escaping @Sendable () async throws -> Connection) -> Creator {
        .plain { try AsyncBridge.wait("creator") { Handed(value: try await make()) }.value }
    }

    /// An async creator that receives the record, run through ``AsyncBridge``.
    static func async(_ make: @escaping @Sendable (ConnectionRecord<Connection>) async throws -> Connection) -> Creator {
        .withRecord { record in
            try AsyncBridge.wait("creator") { Handed(value: try await make(record)) }.value
        }
    }
}

/// What the async-driver initialisers share.
enum AsyncDriverOptions {
    /// An async driver's calls must be waited for on the pool's threads, so `.inline` (no
    /// threads) cannot serve it.
    static func validate(_ options: PoolOptions) throws {
        if case .inline = options.driverThreads {
            throw PoolError.invalidArgument(
                "driverThreads must be .automatic, .limit(n) or .shared(executor) for a pool over an AsyncDialect (its calls are waited for on the pool's threads); got .inline")
        }
    }
}

/// A dialect that can tell when a return's reset would do nothing (``AsyncDialect/needsReset(_:)``).
/// Internal: the pool's context looks for it once, so that only async drivers' pools ask.
protocol ResetQuerying<Connection>: Sendable {
    associatedtype Connection
    func needsReset(_ connection: Connection) -> Bool
}
