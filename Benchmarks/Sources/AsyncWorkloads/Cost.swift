import BenchSupport
import DBPool

/// The W1 pool (QueuePool(4, 0), rollback reset on a no-op connection, no pre-ping) with the
/// given driver threads, one record created up front.
func makeW1Pool(driverThreads: DriverThreads) -> QueuePool<NoOpConnection> {
    let pool = try! QueuePool(
        poolSize: 4, maxOverflow: 0, timeout: .seconds(30),
        options: PoolOptions(resetOnReturn: .rollback, prePing: false, driverThreads: driverThreads)
    ) { NoOpConnection() }
    prefill(pool, count: 1)
    return pool
}

enum W1Form: String, CaseIterable {
    case withConnection = "withConnection { _ in }"
    case connectClose = "connect() + close()"
    case connectCloseAndWait = "connect() + closeAndWait()"
}

/// ns per W1 async cycle: median of `reps` runs of `cycles` cycles, from a task on the global executor.
func w1Async(_ pool: QueuePool<NoOpConnection>, form: W1Form, cycles: Int = 100_000, reps: Int = 5) async -> Double {
    var samples: [Double] = []
    for _ in 0..<reps {
        let ns = await Task.detached { () -> Double in
            let start = nowNs()
            switch form {
            case .withConnection:
                for _ in 0..<cycles { try! await pool.withConnection { _ in } }
            case .connectClose:
                for _ in 0..<cycles {
                    let fairy = try! await pool.connect()
                    fairy.close()
                }
            case .connectCloseAndWait:
                for _ in 0..<cycles {
                    let fairy = try! await pool.connect()
                    await fairy.closeAndWait()
                }
            }
            return Double(nowNs() &- start) / Double(cycles)
        }.value
        samples.append(ns)
    }
    return median(samples)
}

/// ns per blocking W1 cycle on one thread (the reference).
func w1Blocking(_ pool: QueuePool<NoOpConnection>, cycles: Int = 200_000, reps: Int = 5) -> Double {
    var samples: [Double] = []
    for _ in 0..<reps {
        let slots = Slots<Double>(count: 1, initial: 0)
        _ = runOnThreads(1) { _ in
            let start = nowNs()
            for _ in 0..<cycles {
                let fairy = try! pool.connect()
                fairy.close()
            }
            slots[0] = Double(nowNs() &- start) / Double(cycles)
        }
        samples.append(slots[0])
    }
    return median(samples)
}

/// W2 as PoolBenchmarks runs it: `threads` blocking threads over QueuePool(4, 0), no-op
/// connection, 50,000 cycles per run; cycles per second, one value per run.
func w2(threads: Int, overtakeWindow: Duration = .milliseconds(1), reps: Int = 9) -> [Double] {
    var samples: [Double] = []
    for _ in 0..<reps {
        let pool = makeQueuePool(overtakeWindow: overtakeWindow)
        prefill(pool, count: 4)
        let run = contendedThreads(pool, threads: threads, cycles: 50_000)
        samples.append(Double(run.waits.count) / (Double(run.wallNs) / 1e9))
        run.free()
    }
    return samples
}
