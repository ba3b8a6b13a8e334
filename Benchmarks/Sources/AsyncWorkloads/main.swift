// Issue 13's measurements (heartbeat, async throughput on a real PostgreSQL, W1 async cost)
// and issue 14's fair-wait check (longest single checkout wait of 64 blocking threads), printed
// as one markdown report. Run it through ../run-async, which starts a throwaway PostgreSQL
// server (scripts/with-postgres) unless DBPOOL_POSTGRES_URL is already set.
//
//   AsyncWorkloads [--reps N] [--seconds S] [--skip-cost] [--skip-nio]
//                  [--only fairness [--think-us N] | --only cost | --only select1 | --only nio
//                   | --only nio-one [--side ours|client|ours-noreset|no-pool] [--tasks N] [--sql SQL]
//                                    [--on-event-loops]]
//
// Every scenario is repeated N times (default 3), interleaved, and reported as the median with
// the range in brackets; ratios are taken between medians of the same run.
import BenchSupport
import DBPool
import Foundation

struct Arguments {
    var reps = 3
    var seconds = 2.0
    var skipCost = false
    var skipNIO = false
    var only: String?
    var thinkUs: UInt32 = 0
    var side = "ours"
    var tasks = 64
    var sql = "SELECT 1"
    /// nio-one: every task prefers DBPoolPostgresNIO's `EventLoopGroupTaskExecutor` (a placement diagnostic).
    var onEventLoops = false
    init() {
        var args = CommandLine.arguments.dropFirst()
        while let arg = args.popFirst() {
            switch arg {
            case "--reps": reps = Int(args.popFirst() ?? "") ?? reps
            case "--seconds": seconds = Double(args.popFirst() ?? "") ?? seconds
            case "--skip-cost": skipCost = true
            case "--skip-nio": skipNIO = true
            case "--only": only = args.popFirst()
            case "--think-us": thinkUs = UInt32(args.popFirst() ?? "") ?? 0
            case "--side": side = args.popFirst() ?? side
            case "--tasks": tasks = Int(args.popFirst() ?? "") ?? tasks
            case "--sql": sql = args.popFirst() ?? sql
            case "--on-event-loops": onEventLoops = true
            default: FileHandle.standardError.write("unknown argument \(arg)\n".data(using: .utf8)!); exit(2)
            }
        }
    }
}

func note(_ s: String) { FileHandle.standardError.write("[\(Date())] \(s)\n".data(using: .utf8)!) }

/// Runs `body` under the heartbeat: its result and the worst heartbeat interval (ms).
func underHeartbeat<T: Sendable>(interval: Duration = .milliseconds(5), _ body: @escaping @Sendable () async -> T) async -> (T, Double) {
    let box = Slots<T?>(count: 1, initial: nil)
    let gap = await Heartbeat.measure(interval: interval) { box[0] = await body() }
    return (box[0]!, gap)
}

func verdict(_ ok: Bool) -> String { ok ? "met" : "**missed**" }

/// W1 async cost (with the driver threads and `.inline`) and W2 at 64 threads, as markdown lines.
func costTables() async -> [String] {
    var lines: [String] = []
    note("W1 async cost")
    let executorPool = makeW1Pool(driverThreads: .automatic)
    let inlinePool = makeW1Pool(driverThreads: .inline)
    lines.append("### W1 async cost, ns per cycle (one task, QueuePool(4, 0), no-op connection; median of 5 × 100,000)")
    lines.append("")
    lines.append("| form | driver threads (default) | `.inline` | target for `.inline` |")
    lines.append("|---|---|---|---|")
    for form in W1Form.allCases {
        let e = await w1Async(executorPool, form: form)
        let i = await w1Async(inlinePool, form: form)
        lines.append("| async \(form.rawValue) | \(fmt(e, 0)) | \(fmt(i, 0)) | \(form == .connectCloseAndWait ? "" : "≤ 150: \(verdict(i <= 150))") |")
    }
    lines.append("| blocking connect() + close() (reference) | \(fmt(w1Blocking(executorPool), 0)) | \(fmt(w1Blocking(inlinePool), 0)) | |")
    lines.append("")
    note("W2 64 threads")
    let w2runs = w2(threads: 64)
    lines.append("### W2, 64 blocking threads over QueuePool(4, 0), no-op connection (target ≥ 3 M cycles/s)")
    lines.append("")
    lines.append("| overtakeWindow | M cycles/s, median (min–max) of \(w2runs.count) runs of 50,000 | target |")
    lines.append("|---|---|---|")
    lines.append("| 1 ms (default) | \(spread(w2runs.map { $0 / 1e6 }, 2)) | \(verdict(median(w2runs) >= 3e6)) |")
    lines.append("")
    return lines
}

func runAll() async {
    let args = Arguments()
    let duration = Duration.milliseconds(Int(args.seconds * 1000))
    let url = ProcessInfo.processInfo.environment["DBPOOL_POSTGRES_URL"]
    let loadBefore = loadAverage()
    if args.only == "w1-inline-with" || args.only == "w1-executor-with" {
        // W1 async withConnection and connect+close alone (ns per cycle), e.g. for a profiler.
        let pool = makeW1Pool(driverThreads: args.only == "w1-inline-with" ? .inline : .automatic)
        print(fmt(await w1Async(pool, form: .withConnection, cycles: 50_000, reps: 5), 0), fmt(await w1Async(pool, form: .connectClose, cycles: 50_000, reps: 5), 0))
        return
    }
    if args.only == "nio-w2" {
        // 64 tasks over the async no-op driver's QueuePool(8), each body yielding once while it
        // holds its connection, so that most checkouts wait: the wait and hand-off path alone
        // (ns per checkout, median of `--reps`).
        let pool = try! await QueuePool(
            poolSize: 8, maxOverflow: 0, timeout: .seconds(30), options: PoolOptions(prePing: false),
            dialect: NoOpAsyncDialect()) { NoOpConnection() }
        var samples: [Double] = []
        for _ in 0..<args.reps {
            let run = await timedTasks(64, duration: duration) {
                try await pool.withConnection { _ in await Task.yield() }
                return 0
            }
            samples.append(Double(run.wallNs) / Double(run.ops))
        }
        let stats = pool.statistics
        print("async no-op, 64 tasks over 8 connections: \(fmt(median(samples), 0)) ns per checkout (\(samples.map { fmt($0, 0) }.joined(separator: ", "))); waits \(stats.waits) of \(stats.checkouts)")
        return
    }
    if args.only == "nio-w1" {
        // W1 over the async no-op driver against the blocking W1, alone (ns per cycle and ratio).
        let asyncPool = await makeAsyncNoOpPool()
        let blocking = w1Blocking(makeW1Pool(driverThreads: .automatic))
        let async = await w1Async(asyncPool, form: .withConnection, cycles: 50_000)
        print("async no-op withConnection \(fmt(async, 0)) ns, blocking \(fmt(blocking, 0)) ns: \(fmt(async / blocking, 2))x")
        return
    }
    if args.only == "select1", let url {
        // Async SELECT 1 against PostgresClient only, interleaved.
        for _ in 0..<args.reps {
            let pool = try! await makePQPool(url: url)
            let ours = await pqTasks(pool, tasks: 64, sql: "SELECT 1", duration: duration)
            await pool.shutdown(gracePeriod: .seconds(2))
            let theirs = try! await withPostgresClient(url: url) { await clientTasks($0, tasks: 64, sql: "SELECT 1", duration: duration) }
            print("async SELECT 1: ours \(fmt(ours.perSecond, 0))/s, PostgresClient \(fmt(theirs.perSecond, 0))/s, ratio \(fmt(ours.perSecond / theirs.perSecond, 2))")
        }
        return
    }
    if args.only == "cost" {
        print("load average: \(loadBefore)")
        print((await costTables()).joined(separator: "\n"))
        print("load average: \(loadAverage())")
        return
    }
    if args.only == "nio-one", let url {
        // One cell of the nio comparison, `--reps` times, e.g. under perf record.
        let executor: (any TaskExecutor)? = args.onEventLoops ? onEventLoops : nil
        for _ in 0..<args.reps {
            let result: NIOResult
            switch args.side {
            case "client":
                result = try! await withPostgresClient(url: url) { client in
                    await measuredCell { await clientTasks(client, tasks: args.tasks, sql: args.sql, duration: duration, preferring: executor) }
                }
            case "no-pool":
                result = await measuredCell { await noPoolTasks(url: url, sql: args.sql, duration: duration, preferring: executor) }
            default:
                let pool = try! await makeNIOPool(url: url, resetOnReturn: args.side == "ours-noreset" ? .noAction : .rollback)
                result = await measuredCell { await nioTasks(pool, tasks: args.tasks, sql: args.sql, duration: duration, preferring: executor) }
                await pool.shutdown(gracePeriod: .seconds(2))
            }
            print("\(args.side)\(args.onEventLoops ? " (on event loops)" : ""), \(args.side == "no-pool" ? 8 : args.tasks) tasks, \(args.sql): \(fmt(result.run.perSecond, 0)) ops/s, worst 1 ms heartbeat gap \(fmt(result.gapMs)) ms, \(fmt(result.cpuUsPerOp)) µs CPU and \(fmt(result.switchesPerOp, 2)) context switches per op")
        }
        return
    }
    if args.only == "nio" {
        // Issue 15 item 4 alone: DBPoolPostgresNIO against PostgresClient, heartbeat, async W1.
        guard let url else { note("--only nio needs DBPOOL_POSTGRES_URL (run it through ./run-async)"); exit(2) }
        print("load average before: \(loadBefore) (\(ProcessInfo.processInfo.activeProcessorCount) cores)")
        print()
        let section = await nioSection(url: url, reps: args.reps, duration: duration)
        print(section.joined(separator: "\n"))
        print("load average after: \(loadAverage())")
        return
    }
    if args.only == "fairness" {
        print("load average: \(loadBefore)")
        await fairnessOnly(url: url, reps: args.reps, duration: duration, thinkUs: args.thinkUs)
        print("load average: \(loadAverage())")
        return
    }
    var lines: [String] = []
    func out(_ s: String = "") { lines.append(s) }

    let select1 = "SELECT 1"
    let sleep1 = "SELECT 1 FROM pg_sleep(0.001)"

    // Heartbeat and PostgreSQL results, one array entry per repetition.
    var gapA: [String: [Double]] = [:], gapB: [String: [Double]] = [:], gapB100: [String: [Double]] = [:], gapC: [String: [Double]] = [:]
    var openedB100: [String: [Double]] = [:], failuresC: [String: [Double]] = [:]
    var rate: [String: [Double]] = [:], maxWait: [String: [Double]] = [:], p99Wait: [String: [Double]] = [:]
    let kinds: [(String, DriverThreads)] = [("executor", .automatic), (".inline", .inline)]

    for rep in 1...args.reps {
        note("repetition \(rep) of \(args.reps)")
        for (name, threads) in kinds {
            note("(b) cold pool, \(name)")
            gapB[name, default: []].append(await coldPool(driverThreads: threads, holdMs: 0).gapMs)
            let held = await coldPool(driverThreads: threads, holdMs: 100)
            gapB100[name, default: []].append(held.gapMs)
            openedB100[name, default: []].append(Double(held.opened))
            note("(c) SQLite writers, \(name)")
            let c = await sqliteWriters(driverThreads: threads)
            gapC[name, default: []].append(c.gapMs)
            failuresC[name, default: []].append(Double(c.failures))
        }
        guard let url else { continue }
        func record(_ key: String, _ run: OpsRun) {
            rate[key, default: []].append(run.perSecond)
            maxWait[key, default: []].append(run.maxWaitMs)
            p99Wait[key, default: []].append(run.waitPercentileMs(0.99))
        }
        for (name, threads) in kinds {
            note("(a) 64 async tasks SELECT 1, \(name)")
            let pool = try! await makePQPool(url: url, driverThreads: threads)
            let (run, gap) = await underHeartbeat { await pqTasks(pool, tasks: 64, sql: select1, duration: duration) }
            gapA[name, default: []].append(gap)
            record("async select1 \(name)", run)
            if name == "executor" {
                note("64 async tasks, 2 ms query")
                record("async sleep1", await pqTasks(pool, tasks: 64, sql: sleep1, duration: duration))
            }
            await pool.shutdown(gracePeriod: .seconds(2))
        }
        for (name, window) in [("1 ms (default)", Duration.milliseconds(1)), ("zero", .zero)] {
            note("64 threads, 2 ms query, overtakeWindow \(name)")
            let pool = try! await makePQPool(url: url, overtakeWindow: window)
            record("threads sleep1 \(name)", pqThreads(pool, threads: 64, sql: sleep1, duration: duration))
            if window != .zero {
                record("threads select1", pqThreads(pool, threads: 64, sql: select1, duration: duration))
            }
            await pool.shutdown(gracePeriod: .seconds(2))
        }
        note("PostgresClient")
        let (client1, client2, clientGap) = try! await withPostgresClient(url: url) { client in
            let (a, gap) = await underHeartbeat { await clientTasks(client, tasks: 64, sql: select1, duration: duration) }
            let b = await clientTasks(client, tasks: 64, sql: sleep1, duration: duration)
            return (a, b, gap)
        }
        record("client select1", client1)
        record("client sleep1", client2)
        gapA["PostgresClient", default: []].append(clientGap)
    }

    out("## Async workloads (issue 13) and fair waits (issue 14 item 15)")
    out()
    out("\(args.reps) repetitions, interleaved; each cell is the median (min–max). Runs of \(fmt(args.seconds)) s, 64 workers, QueuePool(8, 0) over the libpq adapter unless stated. Load average before: \(loadBefore); after: \(loadAverage()) (\(ProcessInfo.processInfo.activeProcessorCount) cores).")
    out()
    out("### Worst heartbeat interval (a task sleeping 5 ms in a loop), ms — target ≤ 20")
    out()
    out("| scenario | driver threads (default) | `.inline` (before) | PostgresClient | target |")
    out("|---|---|---|---|---|")
    if url != nil {
        out("| (a) 64 async tasks `SELECT 1` | \(spread(gapA["executor"]!)) | \(spread(gapA[".inline"]!)) | \(spread(gapA["PostgresClient"]!)) | \(verdict(median(gapA["executor"]!) <= 20)) |")
    } else {
        out("| (a) 64 async tasks `SELECT 1` | no DBPOOL_POSTGRES_URL | | | |")
    }
    out("| (b) 8 async checkouts, cold pool, creator 200 ms | \(spread(gapB["executor"]!)) | \(spread(gapB[".inline"]!)) | | \(verdict(median(gapB["executor"]!) <= 20)) |")
    out("| (b') same, each holding its connection 100 ms (blocking) | \(spread(gapB100["executor"]!)) | \(spread(gapB100[".inline"]!)) | | \(verdict(median(gapB100["executor"]!) <= 20)) |")
    out("| (b') connections opened | \(spread(openedB100["executor"]!, 0)) | \(spread(openedB100[".inline"]!, 0)) | | |")
    out("| (c) SQLite: `BEGIN IMMEDIATE` held 300 ms across an await, 3 async writers (busy timeout 2 s) | \(spread(gapC["executor"]!)) | \(spread(gapC[".inline"]!)) | | \(verdict(median(gapC["executor"]!) <= 20)) |")
    out("| (c) writers failing with `database is locked` | \(spread(failuresC["executor"]!, 0)) | \(spread(failuresC[".inline"]!, 0)) | | |")
    out()
    if url != nil {
        func r(_ k: String) -> Double { median(rate[k]!) }
        out("### Throughput on PostgreSQL, ops/s (64 workers)")
        out()
        out("The 2 ms query is `\(sleep1)` (about 1.1 ms in the server plus the round trip).")
        out()
        out("| workload | swift-db-pool async | swift-db-pool 64 threads | PostgresClient (1.33.2) | ratio | target |")
        out("|---|---|---|---|---|---|")
        let sleepRatio = r("async sleep1") / r("threads sleep1 1 ms (default)")
        out("| 2 ms query | \(spread(rate["async sleep1"]!, 0)) | \(spread(rate["threads sleep1 1 ms (default)"]!, 0)) | \(spread(rate["client sleep1"]!, 0)) | async ÷ threads \(fmt(sleepRatio, 2))× | ≥ 0.9×: \(verdict(sleepRatio >= 0.9)) |")
        let selectRatio = r("async select1 executor") / r("client select1")
        out("| `SELECT 1` | \(spread(rate["async select1 executor"]!, 0)) (`.inline`: \(fmt(r("async select1 .inline"), 0))) | \(spread(rate["threads select1"]!, 0)) | \(spread(rate["client select1"]!, 0)) | async ÷ PostgresClient \(fmt(selectRatio, 2))× | ≥ 1.5×: \(verdict(selectRatio >= 1.5)) |")
        out()
        out("### Checkout waits on PostgreSQL, 64 workers, 2 ms query (issue 14 item 15: longest single wait ≤ 50 ms)")
        out()
        out("| pool | ops/s | p99 wait, ms | longest single wait, ms | target |")
        out("|---|---|---|---|---|")
        for (label, key, target) in [
            ("64 threads, overtakeWindow 1 ms (default)", "threads sleep1 1 ms (default)", true),
            ("64 threads, overtakeWindow .zero", "threads sleep1 zero", false),
            ("64 async tasks (driver threads)", "async sleep1", false),
            ("PostgresClient, 64 tasks", "client sleep1", false),
        ] {
            let t = target ? "≤ 50: \(verdict(median(maxWait[key]!) <= 50))" : ""
            out("| \(label) | \(spread(rate[key]!, 0)) | \(spread(p99Wait[key]!)) | \(spread(maxWait[key]!)) | \(t) |")
        }
        out()
    }

    if !args.skipCost { lines += await costTables() }
    if !args.skipNIO, let url { lines += await nioSection(url: url, reps: args.reps, duration: duration) }
    print(lines.joined(separator: "\n"))
}

await runAll()
