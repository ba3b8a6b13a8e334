import DBPool
import DBPoolPostgres
import Dispatch
import Foundation
import Synchronization
import XCTest

/// Real threads and real tasks running worker bodies at the same time, for the PgBouncer and
/// failover tests. The test's own thread orchestrates (restarts, samples) while they run.
final class WorkerLoad: Sendable {
    private let group = DispatchGroup()

    /// Starts `threads` threads running `thread(index)` and `tasks` detached tasks running
    /// `task(index)`. Each body loops by itself and returns when it is done.
    init(
        threads: Int, tasks: Int,
        thread: @escaping @Sendable (Int) -> Void,
        task: @escaping @Sendable (Int) async -> Void
    ) {
        for index in 0..<threads {
            group.enter()
            Thread.detachNewThread { [group] in
                thread(index)
                group.leave()
            }
        }
        for index in 0..<tasks {
            group.enter()
            Task.detached { [group] in
                await task(index)
                group.leave()
            }
        }
    }

    /// Waits for every worker, at most `seconds`; `false` if some are still running.
    func wait(seconds: Double) -> Bool {
        group.wait(timeout: .now() + seconds) == .success
    }
}

/// A flag the orchestrating thread raises to end the workers' loops.
final class StopFlag: Sendable {
    private let raised = Atomic(false)
    var isRaised: Bool { raised.load(ordering: .acquiring) }
    func raise() { raised.store(true, ordering: .releasing) }
}

/// What the workers' checkouts did: outcomes by kind, and how long the checkouts took (from the
/// call to the body's first line, or to the error when there was no body).
final class LoadRecorder: Sendable {
    private struct State {
        var counts: [String: Int] = [:]
        var longestCheckout: Duration = .zero
        var overdue = 0
    }

    private let state = Mutex(State())
    /// A checkout longer than this counts as overdue (its deadline plus the allowed lateness).
    let limit: Duration

    init(limit: Duration) { self.limit = limit }

    func record(_ kind: String, checkout: Duration) {
        state.withLock { state in
            state.counts[kind, default: 0] += 1
            state.longestCheckout = max(state.longestCheckout, checkout)
            if checkout > limit { state.overdue += 1 }
        }
    }

    var counts: [String: Int] { state.withLock { $0.counts } }
    func count(_ kind: String) -> Int { state.withLock { $0.counts[kind, default: 0] } }
    var longestCheckout: Duration { state.withLock { $0.longestCheckout } }
    var overdue: Int { state.withLock { $0.overdue } }

    /// Outcomes that are neither a success, a pool timeout nor a recognised disconnect.
    var unclear: [String: Int] { counts.filter { $0.key.hasPrefix("unclear") } }
}

/// Sorts an error into a kind for ``LoadRecorder``: a pool timeout, a disconnect the dialect
/// recognises (with its SQLSTATE), or "unclear", which the tests forbid.
func outcomeKind(of error: any Error) -> String {
    if let error = error as? PoolError, case .timeout = error { return "timeout" }
    if let error = error as? PostgresError, PostgresDialect().isDisconnect(error, connection: nil) {
        return "disconnect \(error.sqlState ?? "?")"
    }
    return "unclear: \(error)"
}

/// Runs one blocking checkout of `pool`, records its outcome, and returns `body`'s result, or
/// `nil` after an error (which is recorded, not thrown).
@discardableResult
func recordedCheckout<R>(
    _ pool: QueuePool<PostgresConnection>, _ recorder: LoadRecorder,
    _ body: (PostgresConnection) throws -> R
) -> R? {
    let start = ContinuousClock.now
    var checkout: Duration?
    do {
        let result = try pool.withConnection { fairy in
            checkout = ContinuousClock.now - start
            return try body(try XCTUnwrap(fairy.dbapiConnection))
        }
        recorder.record("ok", checkout: checkout ?? .zero)
        return result
    } catch {
        recorder.record(outcomeKind(of: error), checkout: checkout ?? ContinuousClock.now - start)
        return nil
    }
}

/// The async form: the checkout suspends, and the driver work runs on a thread of its own
/// (``onDriverThread(_:_:)``), so no cooperative thread blocks on the socket.
@discardableResult
func recordedCheckout<R: Sendable>(
    _ pool: QueuePool<PostgresConnection>, _ recorder: LoadRecorder,
    _ body: @escaping @Sendable (PostgresConnection) throws -> R
) async -> R? {
    let start = ContinuousClock.now
    var checkout: Duration?
    do {
        let result = try await pool.withConnection { fairy in
            checkout = ContinuousClock.now - start
            return try await onDriverThread(try XCTUnwrap(fairy.dbapiConnection), body)
        }
        recorder.record("ok", checkout: checkout ?? .zero)
        return result
    } catch {
        recorder.record(outcomeKind(of: error), checkout: checkout ?? ContinuousClock.now - start)
        return nil
    }
}

/// Carries a checked-out connection to the thread that runs the driver call.
// @unchecked Sendable: the checkout's task suspends until that thread has finished with the
// connection and resumed it, so the connection still has exactly one user at a time.
private final class ConnectionCarrier: @unchecked Sendable {
    let connection: PostgresConnection
    init(_ connection: PostgresConnection) { self.connection = connection }
}

/// Runs blocking libpq work on a new thread of its own while the calling task awaits it.
///
/// Not on `DispatchQueue.global()`: its few threads (about one per core) would all block in
/// statements that wait inside PgBouncer for a server connection, while the statements that
/// would end the transactions pinning those servers queue behind them. That stalled checkouts
/// for seconds here; it is the deployment hazard the guide describes.
func onDriverThread<R: Sendable>(
    _ connection: PostgresConnection,
    _ work: @escaping @Sendable (PostgresConnection) throws -> R
) async throws -> R {
    let carrier = ConnectionCarrier(connection)
    return try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try work(carrier.connection) })
        }
    }
}
