import BenchSupport
import DBPoolPostgresNIO
import PostgresNIO

// Two references for the postgres-nio comparison (issue 15 item 4), which say what the pools
// are up against: the same queries with no pool at all, and with every task on the event loops
// (DBPoolPostgresNIO's opt-in `EventLoopGroupTaskExecutor`, given to both sides alike).

/// The executor of the "on the event loops" cells, over postgres-nio's default group.
let onEventLoops = EventLoopGroupTaskExecutor()

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
