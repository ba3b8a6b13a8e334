import AsyncKit
import Benchmark
import BenchSupport
import _ConnectionPoolModule

// The peers, on no-op connections of the same kind as ours (empty methods; postgres-nio's also
// keeps its close callbacks, which its pool requires): postgres-nio 1.33.2 `ConnectionPool`
// (`_ConnectionPoolModule`) and async-kit 1.22.0 `EventLoopConnectionPool`, each with 4
// connections created before measuring. postgres-nio has no blocking API, so its W2 figures use
// 2/8/64 concurrent tasks; async-kit's likewise (`requestConnection().get()` from tasks).

let contendedCycles = 50_000
let akContendedCycles = 20_000

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .milliseconds(1500),
        maxIterations: 2_000
    )

    // MARK: W1-like: one task, sequential lease + release.
    Benchmark("PG W1 lease+release") { benchmark async in
        _ = try! await withPGPool(size: 4) { pool in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let lease = try await pool.leaseConnection()
                lease.release()
            }
            benchmark.stopMeasurement()
            return 0
        }
    }

    Benchmark("PG W1 withConnection") { benchmark async in
        _ = try! await withPGPool(size: 4) { pool in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                try await pool.withConnection { _ in }
            }
            benchmark.stopMeasurement()
            return 0
        }
    }

    Benchmark("AK W1 request+release from task", configuration: .init(warmupIterations: 1, maxIterations: 50)) { benchmark async in
        _ = try! await withAKPool(size: 4) { pool in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let connection = try await pool.pool.requestConnection().get()
                pool.pool.releaseConnection(connection)
            }
            benchmark.stopMeasurement()
            return 0
        }
    }

    // async-kit at its best: the whole loop runs on the pool's own event loop, so no request or
    // release hops threads (a connection is available, so each future is already succeeded).
    Benchmark("AK W1 request+release on event loop") { benchmark async in
        _ = try! await withAKPool(size: 4) { pool in
            let n = benchmark.scaledIterations.count
            benchmark.startMeasurement()
            try await pool.eventLoop.submit {
                for _ in 0..<n {
                    pool.pool.requestConnection().whenSuccess { pool.pool.releaseConnection($0) }
                }
            }.get()
            benchmark.stopMeasurement()
            return 0
        }
    }

    // MARK: W2-like: 2, 8, 64 concurrent tasks; W3-like: 1,000 tasks.
    for workers in [2, 8, 64, 1000] {
        let label = workers == 1000 ? "W3 tasks 1000" : "W2 tasks \(workers)"
        let pgStats = ContendedStats(name: "PG \(label)", workers: workers, poolSize: 4, cyclesPerIteration: contendedCycles)
        Benchmark(
            "PG \(label)",
            configuration: .init(warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 15)
        ) { benchmark async in
            _ = try! await withPGPool(size: 4) { pool in
                benchmark.startMeasurement()
                let run = await contendedTasks(pool, tasks: workers, cycles: contendedCycles)
                benchmark.stopMeasurement()
                pgStats.add(wallNs: run.wallNs, waits: run.waits, holds: run.holds)
                run.free()
                return 0
            }
        } teardown: {
            pgStats.write()
        }

        let akStats = ContendedStats(name: "AK \(label)", workers: workers, poolSize: 4, cyclesPerIteration: akContendedCycles)
        Benchmark(
            "AK \(label)",
            configuration: .init(warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 15)
        ) { benchmark async in
            _ = try! await withAKPool(size: 4) { pool in
                benchmark.startMeasurement()
                let run = await contendedTasks(pool, tasks: workers, cycles: akContendedCycles)
                benchmark.stopMeasurement()
                akStats.add(wallNs: run.wallNs, waits: run.waits, holds: run.holds)
                run.free()
                return 0
            }
        } teardown: {
            akStats.write()
        }
    }
}
