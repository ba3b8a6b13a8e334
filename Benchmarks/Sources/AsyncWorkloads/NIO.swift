import BenchSupport
import DBPool
import DBPoolPostgresNIO
import Foundation
import Logging
import PostgresNIO

// Issue 15 item 4: postgres-nio's PostgresConnection pooled by our QueuePool (DBPoolPostgresNIO)
// against postgres-nio's own PostgresClient, same server, same pool size, same event loop group
// (postgres-nio's default, one loop per core), under a 1 ms heartbeat; and W1 over an async
// no-op driver against the blocking W1.

typealias NIOPool = QueuePool<PooledPostgresConnection>

let quietLogger = Logger(label: "bench.nio") { _ in SwiftLogNoOpLogHandler() }

/// postgres-nio's connection configuration for a `postgresql://` URL on loopback, no TLS.
func nioConfiguration(url: String) -> PostgresConnection.Configuration {
    let parts = URLComponents(string: url)!
    return PostgresConnection.Configuration(
        host: parts.host ?? "127.0.0.1", port: parts.port ?? 5432, username: parts.user ?? "postgres",
        password: parts.password, database: String(parts.path.dropFirst()), tls: .disable)
}

/// QueuePool(size, 0) over DBPoolPostgresNIO, every option at its default, with all `size`
/// connections opened before it is returned. `resetOnReturn` only for the diagnostic rows.
func makeNIOPool(url: String, size: Int = 8, resetOnReturn: ResetOnReturn = .rollback) async throws -> NIOPool {
    let pool = try await QueuePool(
        poolSize: size, maxOverflow: 0, timeout: .seconds(60),
        options: PoolOptions(resetOnReturn: resetOnReturn),
        dialect: PostgresNIODialect(),
        creator: PostgresNIODialect.creator(configuration: nioConfiguration(url: url), logger: quietLogger))
    var fairies: [ConnectionFairy<PooledPostgresConnection>] = []
    for _ in 0..<size { fairies.append(try await pool.connect()) }
    for fairy in fairies { await fairy.closeAndWait() }
    return pool
}

/// N tasks running `sql` through our pool's async `withConnection`, each op's wait being the
/// time from the call to the body's start.
func nioTasks(_ pool: NIOPool, tasks: Int, sql: String, duration: Duration, preferring executor: (any TaskExecutor)? = nil) async -> OpsRun {
    let query = PostgresQuery(unsafeSQL: sql)
    return await timedTasks(tasks, duration: duration, preferring: executor) {
        let t0 = nowNs()
        return try await pool.withConnection { fairy in
            let wait = nowNs() &- t0
            for try await _ in try await fairy.connection.query(query) {}
            return wait
        }
    }
}

/// This process's CPU time (user + system) and context switches (voluntary + involuntary) so far.
func processUsage() -> (cpuNs: UInt64, switches: Int) {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    let cpu = UInt64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000_000
        + UInt64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1_000
    return (cpu, usage.ru_nvcsw + usage.ru_nivcsw)
}

/// What one timed cell measured: the run, the worst heartbeat gap (ms), and this process's CPU
/// time and context switches per operation.
struct NIOResult: Sendable {
    var run: OpsRun
    var gapMs: Double
    var cpuUsPerOp: Double
    var switchesPerOp: Double
}

/// Runs `body` under a 1 ms heartbeat and measures it, after 0.3 s of quiet: without it, a
/// cell's CPU and context switches sometimes included a burst left by the cell before (the 2 ms
/// cell at N = 1 once counted 50 switches per operation instead of 17).
func measuredCell(_ body: @escaping @Sendable () async -> OpsRun) async -> NIOResult {
    try? await Task.sleep(for: .milliseconds(300))
    let before = processUsage()
    let (run, gap) = await underHeartbeat(interval: .milliseconds(1), body)
    let after = processUsage()
    let ops = Double(max(run.ops, 1))
    return NIOResult(
        run: run, gapMs: gap, cpuUsPerOp: Double(after.cpuNs &- before.cpuNs) / 1e3 / ops,
        switchesPerOp: Double(after.switches - before.switches) / ops)
}

/// One cell of the comparison: which pool, how many tasks, which query.
struct NIOCell: Hashable {
    var side: String
    var tasks: Int
    var query: String
}

/// The no-op driver's async dialect: every call returns at once, so W1 over it measures the
/// pool's async-driver path (the bridge and the driver threads) and nothing else. A no-op driver
/// knows it has no transaction to roll back (`needsReset` false), as postgres-nio's dialect
/// knows from the protocol; `resets: true` says otherwise, so that every return goes through the
/// bridge (a diagnostic row).
struct NoOpAsyncDialect: AsyncDialect {
    var resets = false
    func needsReset(_ connection: NoOpConnection) -> Bool { resets }
    func doRollback(_ connection: NoOpConnection) async throws {}
    func doCommit(_ connection: NoOpConnection) async throws {}
    func doClose(_ connection: NoOpConnection) async throws {}
    func doPing(_ connection: NoOpConnection) async throws -> Bool { true }
}

/// The W1 pool (QueuePool(4, 0), no pre-ping) over the async no-op driver, its 4 records
/// created up front.
func makeAsyncNoOpPool(resetOnReturn: ResetOnReturn = .rollback, resets: Bool = false) async -> QueuePool<NoOpConnection> {
    let pool = try! await QueuePool(
        poolSize: 4, maxOverflow: 0, timeout: .seconds(30),
        options: PoolOptions(resetOnReturn: resetOnReturn, prePing: false),
        dialect: NoOpAsyncDialect(resets: resets)
    ) { NoOpConnection() }
    var fairies: [ConnectionFairy<NoOpConnection>] = []
    for _ in 0..<4 { fairies.append(try! await pool.connect()) }
    for fairy in fairies { await fairy.closeAndWait() }
    return pool
}

/// The issue 15 item 4 section of the report, as markdown lines.
func nioSection(url: String, reps: Int, duration: Duration) async -> [String] {
    let sizes = [1, 8, 64]
    let queries = [("`SELECT 1`", "SELECT 1"), ("2 ms (`SELECT pg_sleep(0.002)`)", "SELECT pg_sleep(0.002)")]
    let ours = "QueuePool + DBPoolPostgresNIO", client = "PostgresClient"
    var rate: [NIOCell: [Double]] = [:], gap: [NIOCell: [Double]] = [:], p99: [NIOCell: [Double]] = [:]
    var cpu: [NIOCell: [Double]] = [:], switches: [NIOCell: [Double]] = [:]
    var worstGap: [String: Double] = [:]
    var noPool: [String: [Double]] = [:], onLoops: [String: [Double]] = [:]

    for rep in 1...reps {
        note("nio: repetition \(rep) of \(reps)")
        // Alternate which side goes first, so neither always runs on the warmer machine.
        let order = rep % 2 == 1 ? [ours, client] : [client, ours]
        for side in order {
            // Each cell's measurements, in the order of `cells`.
            let cells = sizes.flatMap { n in queries.map { NIOCell(side: side, tasks: n, query: $0.1) } }
            let results: [NIOResult]
            if side == ours {
                let pool = try! await makeNIOPool(url: url)
                var done: [NIOResult] = []
                for cell in cells {
                    note("nio: ours, \(cell.tasks) tasks, \(cell.query)")
                    done.append(await measuredCell { await nioTasks(pool, tasks: cell.tasks, sql: cell.query, duration: duration) })
                }
                await pool.shutdown(gracePeriod: .seconds(2))
                results = done
            } else {
                results = try! await withPostgresClient(url: url) { pgClient in
                    var done: [NIOResult] = []
                    for cell in cells {
                        note("nio: PostgresClient, \(cell.tasks) tasks, \(cell.query)")
                        done.append(await measuredCell { await clientTasks(pgClient, tasks: cell.tasks, sql: cell.query, duration: duration) })
                    }
                    return done
                }
            }
            if side == order.last {
                // The references (see NIOPlacement.swift): no pool, and the N = 64 `SELECT 1`
                // cells with every task on the event loops.
                for (_, sql) in queries {
                    note("nio: no pool, \(sql)")
                    let result = await measuredCell { await noPoolTasks(url: url, sql: sql, duration: duration, preferring: nil) }
                    noPool[sql, default: []].append(result.run.perSecond)
                }
                let loops = onEventLoops
                note("nio: on event loops, ours and PostgresClient")
                let pool = try! await makeNIOPool(url: url)
                onLoops[ours, default: []].append(
                    await measuredCell { await nioTasks(pool, tasks: 64, sql: "SELECT 1", duration: duration, preferring: loops) }.run.perSecond)
                await pool.shutdown(gracePeriod: .seconds(2))
                let theirs = try! await withPostgresClient(url: url) { pgClient in
                    await measuredCell { await clientTasks(pgClient, tasks: 64, sql: "SELECT 1", duration: duration, preferring: loops) }
                }
                onLoops[client, default: []].append(theirs.run.perSecond)
            }
            for (cell, result) in zip(cells, results) {
                rate[cell, default: []].append(result.run.perSecond)
                p99[cell, default: []].append(result.run.waitPercentileMs(0.99))
                gap[cell, default: []].append(result.gapMs)
                cpu[cell, default: []].append(result.cpuUsPerOp)
                switches[cell, default: []].append(result.switchesPerOp)
                worstGap[side] = max(worstGap[side] ?? 0, result.gapMs)
            }
        }
    }

    note("nio: W1 over the async no-op driver")
    let asyncPool = await makeAsyncNoOpPool()
    let asyncResets = await makeAsyncNoOpPool(resets: true)
    let blockingPool = makeW1Pool(driverThreads: .automatic)
    let blocking = w1Blocking(blockingPool)
    var w1: [(String, Double)] = []
    for form in W1Form.allCases {
        w1.append(("async no-op driver, \(form.rawValue)", await w1Async(asyncPool, form: form, cycles: 20_000)))
    }
    let asyncWith = w1[0].1
    w1.append(("async no-op driver whose `needsReset` says true, withConnection { _ in } (diagnostic: every return rolls back through the driver threads)", await w1Async(asyncResets, form: .withConnection, cycles: 20_000)))
    w1.append(("blocking no-op connection, connect() + close() (reference)", blocking))
    await asyncPool.shutdown(gracePeriod: .seconds(1))
    await asyncResets.shutdown(gracePeriod: .seconds(1))

    var lines: [String] = []
    func out(_ s: String = "") { lines.append(s) }
    out("### postgres-nio's PostgresConnection under our QueuePool against PostgresClient (issue 15 item 4)")
    out()
    out("\(reps) repetitions, interleaved (the side that goes first alternates); each cell is the median (min–max) of runs of \(fmt(Double(durationNs(duration)) / 1e9)) s. Pool size 8 on both sides (QueuePool(8, 0), every option at its default; PostgresClient minimum = maximum = 8), all connections opened before measuring, postgres-nio's default event loop group on both. A 1 ms heartbeat runs during every cell.")
    out()
    out("| query | tasks N | ours ops/s | PostgresClient ops/s | ours ÷ PostgresClient | target | p99 wait, ms: ours / PostgresClient | worst heartbeat gap, ms: ours / PostgresClient | this process's CPU µs per op: ours / PostgresClient | context switches per op: ours / PostgresClient |")
    out("|---|---|---|---|---|---|---|---|---|---|")
    var ratioVerdicts: [String] = []
    for (label, sql) in queries {
        for n in sizes {
            let a = NIOCell(side: ours, tasks: n, query: sql), b = NIOCell(side: client, tasks: n, query: sql)
            let ratio = median(rate[a]!) / median(rate[b]!)
            var target = ""
            if n >= 8 {
                target = "≥ 1.2×: \(verdict(ratio >= 1.2))"
                ratioVerdicts.append("\(label) N=\(n): \(fmt(ratio, 2))× \(verdict(ratio >= 1.2))")
            }
            out("| \(label) | \(n) | \(spread(rate[a]!, 0)) | \(spread(rate[b]!, 0)) | \(fmt(ratio, 2))× | \(target) | \(fmt(median(p99[a]!), 2)) / \(fmt(median(p99[b]!), 2)) | \(fmt(gap[a]!.max()!)) / \(fmt(gap[b]!.max()!)) | \(fmt(median(cpu[a]!))) / \(fmt(median(cpu[b]!))) | \(fmt(median(switches[a]!), 2)) / \(fmt(median(switches[b]!), 2)) |")
        }
    }
    out()
    out("What the pools are up against, in the same run (see `NIOPlacement.swift`):")
    out()
    out("| reference | ops/s | ÷ PostgresClient at N = 64 | ÷ ours at N = 64 |")
    out("|---|---|---|---|")
    for (label, sql) in queries {
        let rate64 = { (side: String) in median(rate[NIOCell(side: side, tasks: 64, query: sql)]!) }
        let best = median(noPool[sql]!)
        out("| no pool: 8 tasks, each owning one of 8 connections, \(label) | \(spread(noPool[sql]!, 0)) | \(fmt(best / rate64(client), 2))× | \(fmt(best / rate64(ours), 2))× |")
    }
    let loopsOurs = median(onLoops[ours]!), loopsClient = median(onLoops[client]!)
    out("| `SELECT 1`, N = 64, every task on the event loops: ours | \(spread(onLoops[ours]!, 0)) | \(fmt(loopsOurs / loopsClient, 2))× (both on the loops) | \(fmt(loopsOurs / median(rate[NIOCell(side: ours, tasks: 64, query: "SELECT 1")]!), 2))× |")
    out("| `SELECT 1`, N = 64, every task on the event loops: PostgresClient | \(spread(onLoops[client]!, 0)) | \(fmt(loopsClient / median(rate[NIOCell(side: client, tasks: 64, query: "SELECT 1")]!), 2))× | |")
    out()
    out("Worst heartbeat gap over the whole comparison (a task sleeping 1 ms in a loop; the gap includes the 1 ms): ours \(fmt(worstGap[ours]!)) ms, PostgresClient \(fmt(worstGap[client]!)) ms; target ≤ 20 ms: \(verdict(worstGap[ours]! <= 20)).")
    out()
    out("W1 over an async no-op driver (an `AsyncDialect` whose calls all return at once and whose `needsReset` says there is no transaction to roll back; QueuePool(4, 0), reset = rollback, no pre-ping; one task; median of 5 × 20,000 cycles) against the blocking W1 (no-op blocking connection, one thread, median of 5 × 200,000):")
    out()
    out("| form | ns per cycle | ÷ blocking |")
    out("|---|---|---|")
    for (label, ns) in w1 {
        out("| \(label) | \(fmt(ns, 0)) | \(fmt(ns / blocking, 1))× |")
    }
    out()
    out("Targets: ours ≥ 1.2× PostgresClient at N = 8 and 64 (\(ratioVerdicts.joined(separator: "; "))); worst heartbeat gap ≤ 20 ms: \(verdict(worstGap[ours]! <= 20)); async no-op W1 (`withConnection`) within 2× the blocking W1: \(fmt(asyncWith / blocking, 1))× \(verdict(asyncWith <= 2 * blocking)).")
    out()
    return lines
}
