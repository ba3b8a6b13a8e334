import Benchmark
import BenchSupport
import DBPool
import DBPoolSQLite
#if canImport(Glibc)
import Glibc
#endif

// swift-db-pool's own workloads (W1-W5). The peers are in PeerBenchmarks; ./run merges both.
// Contended workloads (W2, W3, W5 hand-off) also write wait-time statistics to
// $DBPOOL_BENCH_STATS_DIR, because package-benchmark measures whole iterations, not each wait.

/// Cycles per iteration of a contended benchmark (shared by all workers).
let contendedCycles = 50_000

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .milliseconds(1500),
        maxIterations: 2_000
    )

    // MARK: W1 - one thread, QueuePool(4, 0), rollback reset on a no-op connection, no pre-ping.
    let w1 = makeQueuePool()
    prefill(w1, count: 1)

    Benchmark("W1 connect+close") { benchmark in
        for _ in benchmark.scaledIterations {
            let fairy = try! w1.connect()
            fairy.close()
        }
    }

    Benchmark("W1 withConnection") { benchmark in
        for _ in benchmark.scaledIterations {
            try! w1.withConnection { _ in }
        }
    }

    Benchmark("W1 async connect+close") { benchmark async in
        for _ in benchmark.scaledIterations {
            let fairy = try! await w1.connect()
            fairy.close()
        }
    }

    Benchmark("W1 async withConnection") { benchmark async in
        for _ in benchmark.scaledIterations {
            try! await w1.withConnection { _ async in }
        }
    }

    // MARK: W5 - W1 cost with 1, 16, 256, 4096 idle records (all created before measuring).
    for idle in [1, 16, 256, 4096] {
        let pool = makeQueuePool(poolSize: idle, maxOverflow: 0)
        prefill(pool, count: idle)
        Benchmark("W5 idle \(idle) connect+close") { benchmark in
            for _ in benchmark.scaledIterations {
                let fairy = try! pool.connect()
                fairy.close()
            }
        }
    }

    // MARK: W5 - enqueue+cancel with 1, 100, 10,000 async waiters already queued.
    // One op = a new task's connect() joins the back of the queue, then is cancelled.
    for depth in [1, 100, 10_000] {
        nonisolated(unsafe) var fixture: WaiterFixture?
        Benchmark(
            "W5 waiters \(depth) enqueue+cancel",
            configuration: .init(warmupIterations: 1, scalingFactor: .kilo, maxIterations: 40)
        ) { benchmark async in
            await fixture!.enqueueAndCancel(benchmark.scaledIterations.count)
        } setup: {
            fixture = await WaiterFixture(depth: depth)
        } teardown: {
            await fixture?.tearDown()
            fixture = nil
        }
    }

    // MARK: W5 - hand-off with 1, 100, 10,000 waiters: depth+1 tasks cycling over QueuePool(1, 0),
    // so every return hands the connection to the head of a queue about `depth` long.
    // At least 50 cycles per task, so that creating the tasks (about 1.5 µs each, inside the
    // measurement) stays a small part of the figure: with a fixed 20,000 cycles, 10,001 tasks did
    // two cycles each and the "hand-off" cost was mostly task creation.
    for depth in [1, 100, 10_000] {
        let cycles = max(20_000, (depth + 1) * 50)
        let stats = ContendedStats(name: "W5 waiters \(depth) hand-off", workers: depth + 1, poolSize: 1, cyclesPerIteration: cycles)
        Benchmark(
            "W5 waiters \(depth) hand-off",
            configuration: .init(warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(2), maxIterations: 15)
        ) { benchmark async in
            let pool = makeQueuePool(poolSize: 1, maxOverflow: 0)
            prefill(pool, count: 1)
            benchmark.startMeasurement()
            let run = await contendedTasks(pool, tasks: depth + 1, cycles: cycles)
            benchmark.stopMeasurement()
            stats.add(wallNs: run.wallNs, waits: run.waits, holds: run.holds)
            run.free()
        } teardown: {
            stats.write()
        }
    }

    // MARK: W2 - 2, 8, 64 blocking threads over QueuePool(4, 0); and 64 threads with strict FIFO
    // hand-off (overtakeWindow .zero), to show what the default 1 ms window buys.
    for (threads, strict) in [(2, false), (8, false), (64, false), (64, true)] {
        let name = strict ? "W2 strict threads \(threads)" : "W2 threads \(threads)"
        let stats = ContendedStats(name: name, workers: threads, poolSize: 4, cyclesPerIteration: contendedCycles)
        Benchmark(
            name,
            configuration: .init(warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 15)
        ) { benchmark in
            let pool = makeQueuePool(overtakeWindow: strict ? .zero : .milliseconds(1))
            prefill(pool, count: 4)
            benchmark.startMeasurement()
            let run = contendedThreads(pool, threads: threads, cycles: contendedCycles)
            benchmark.stopMeasurement()
            stats.add(wallNs: run.wallNs, waits: run.waits, holds: run.holds)
            run.free()
        } teardown: {
            stats.write()
        }
    }

    // MARK: W2 controls - the same threads and loop with no pool, and with the simplest blocking
    // pool (a counting semaphore of 4 permits): the machine's own tail. A run's worst wait depends
    // on how many scheduler ticks it spans, so each control run is scaled to last as long as a
    // run of our pool at the same thread count (calibrated once, before measuring).
    for threads in [2, 8, 64] {
        for kind in ["control", "semaphore"] {
            let stats = ContendedStats(name: "W2 \(kind) threads \(threads)", workers: threads, poolSize: 4, cyclesPerIteration: contendedCycles)
            nonisolated(unsafe) var cycles = contendedCycles
            func run(_ cycles: Int) -> ContendedRun {
                kind == "control" ? controlThreads(threads: threads, cycles: cycles)
                    : semaphoreThreads(threads: threads, permits: 4, cycles: cycles)
            }
            Benchmark(
                "W2 \(kind) threads \(threads)",
                configuration: .init(warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(2), maxIterations: 15)
            ) { benchmark in
                benchmark.startMeasurement()
                let result = run(cycles)
                benchmark.stopMeasurement()
                stats.add(wallNs: result.wallNs, waits: result.waits, holds: result.holds)
                result.free()
            } setup: {
                let pool = makeQueuePool()
                prefill(pool, count: 4)
                let ours = contendedThreads(pool, threads: threads, cycles: contendedCycles)
                let theirs = run(contendedCycles)
                cycles = max(contendedCycles, Int(Double(contendedCycles) * Double(ours.wallNs) / Double(max(theirs.wallNs, 1))))
                ours.free()
                theirs.free()
            } teardown: {
                stats.write()
            }
        }
    }

    // MARK: W3 - 1,000 async tasks over QueuePool(4, 0).
    do {
        let stats = ContendedStats(name: "W3 tasks 1000", workers: 1000, poolSize: 4, cyclesPerIteration: contendedCycles)
        Benchmark(
            "W3 tasks 1000",
            configuration: .init(warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 15)
        ) { benchmark async in
            let pool = makeQueuePool()
            prefill(pool, count: 4)
            benchmark.startMeasurement()
            let run = await contendedTasks(pool, tasks: 1000, cycles: contendedCycles)
            benchmark.stopMeasurement()
            stats.add(wallNs: run.wallNs, waits: run.waits, holds: run.holds)
            run.free()
        } teardown: {
            stats.write()
        }
    }

    // MARK: W4 - SQLite file database: checkout + SELECT 1 + checkin.
    let path = "/tmp/dbpool-bench-\(getpid()).sqlite"
    do {
        let setup = try! SQLiteConnection(path: path)
        try! setup.execute("CREATE TABLE IF NOT EXISTS t(x INTEGER); INSERT INTO t VALUES (1);")
        try! setup.close()
    }
    for prePing in [false, true] {
        let pool = try! QueuePool(
            poolSize: 4, maxOverflow: 0,
            options: PoolOptions(resetOnReturn: .rollback, prePing: prePing),
            dialect: SQLiteDialect()
        ) { try SQLiteConnection(path: path) }
        Benchmark(
            "W4 SQLite pooled SELECT 1\(prePing ? " pre-ping" : "")",
            configuration: .init(warmupIterations: 10, scalingFactor: .one, maxIterations: 100_000)
        ) { benchmark in
            for _ in benchmark.scaledIterations {
                try! pool.withConnection { fairy in try fairy.dbapiConnection!.execute("SELECT 1") }
            }
        }
    }
    Benchmark(
        "W4 SQLite connect-per-op SELECT 1",
        configuration: .init(warmupIterations: 10, scalingFactor: .one, maxIterations: 100_000)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            let connection = try! SQLiteConnection(path: path)
            try! connection.execute("SELECT 1")
            try! connection.close()
        }
    }
}
