import BenchSupport
import NIOCore
import NIOPosix
import PostgresNIO

// Two references for the postgres-nio comparison (issue 15 item 4), which say what the pools
// are up against: the same queries with no pool at all, and with the tasks placed on the
// connections' event loops.

/// A task executor that runs each job on the event loop it is enqueued from (a continuation
/// resumed by a connection's channel handler stays on that connection's loop), or on the next
/// loop of postgres-nio's default group when enqueued from elsewhere. A task that prefers it
/// runs its nonisolated code on the event loops: its statements are written without a hop, and
/// their answers resume it where they arrive. Only for `--on-event-loops`, a diagnostic: nothing
/// in the libraries runs user code on the event loops.
final class CurrentEventLoopExecutor: TaskExecutor {
    static let shared = CurrentEventLoopExecutor()
    private let group = PostgresConnection.defaultEventLoopGroup

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// No pool: 8 tasks, each owning one of 8 `PostgresConnection`s for the whole run, running `sql`
/// back to back. With no checkout, no wait and no hand-off, this is what any pool of 8
/// connections could at best do on this machine with the tasks where they are. Waits are 0.
func noPoolTasks(url: String, connections: Int = 8, sql: String, duration: Duration, preferring executor: (any TaskExecutor)?) async -> OpsRun {
    let query = PostgresQuery(unsafeSQL: sql)
    let logger = quietLogger
    var opened: [PostgresConnection] = []
    for id in 0..<connections {
        opened.append(try! await PostgresConnection.connect(
            on: PostgresConnection.defaultEventLoopGroup.any(), configuration: nioConfiguration(url: url), id: id, logger: logger))
    }
    let deadline = nowNs() &+ UInt64(durationNs(duration))
    let start = nowNs()
    let ops = await withTaskGroup(of: Int.self) { group in
        for connection in opened {
            group.addTask {
                await withTaskExecutorPreference(executor) {
                    var done = 0
                    while nowNs() < deadline {
                        do {
                            for try await _ in try await connection.query(query, logger: logger) {}
                        } catch {
                            fatalError("workload failed: \(error)")
                        }
                        done += 1
                    }
                    return done
                }
            }
        }
        return await group.reduce(0, +)
    }
    let wall = nowNs() &- start
    for connection in opened { try? await connection.close() }
    return OpsRun(ops: ops, wallNs: wall, waits: [UInt64](repeating: 0, count: ops))
}
