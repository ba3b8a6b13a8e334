import PostgresNIO
import Synchronization
import XCTest

/// postgres-nio's own behaviour that DBPoolPostgresNIO works around, checked against the pinned
/// version with postgres-nio alone (no pool). If one of these fails after an upgrade, postgres-nio
/// has changed, and the workaround it names may no longer be needed.
final class UpstreamPostgresNIOTests: XCTestCase {
    /// postgres-nio 1.33.2 never completes a query sent on a connection after the server closed
    /// it. `PostgresConnection.query` writes the statement with `promise: nil`; once NIO has
    /// removed the closed channel's handlers (just before it completes `closeFuture`), the write
    /// fails at the head of the pipeline with `ChannelError.ioOnClosedChannel`, that failure goes
    /// nowhere, and the statement's promise is never completed. (vapor/postgres-nio#487 fixed
    /// this and #501 reverted it.) This was issue 15's two hangs: a checkout without pre-ping
    /// after `pg_terminate_backend`, and a restart killing a connection between its pre-ping and
    /// the body's query. `PooledPostgresConnection.send` works around it.
    func testAQueryOnAConnectionTheServerClosedNeverCompletes() async throws {
        let configuration = try serverConfiguration(applicationName: "dbpool-nio-upstream")
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: quietLogger)
        var pid = -1
        for try await value in try await connection.query("SELECT pg_backend_pid()::int", logger: quietLogger).decode(Int.self) {
            pid = value
        }
        try await terminateBackend(pid)
        try await connection.closeFuture.get()
        XCTAssertTrue(connection.isClosed)

        let completed = Atomic<Bool>(false)
        let query = Task {
            _ = try? await connection.query("SELECT 1", logger: quietLogger)
            completed.store(true, ordering: .relaxed)
        }
        // A query that fails fails within microseconds here: no round trip is involved.
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertFalse(
            completed.load(ordering: .relaxed),
            "postgres-nio now completes a query sent on a closed connection; PooledPostgresConnection.send's event-loop check may no longer be needed")
        _ = query  // Left suspended: nothing will ever resume it.
    }
}
