import BenchSupport
import DBPool
#if canImport(Glibc)
import Glibc
#endif

/// The fair-wait check without a database: 64 threads over QueuePool(8, 0) of no-op connections,
/// each holding its connection `holdUs` (a sleep, as a query waiting for the server does).
func mockHoldThreads(threads: Int = 64, holdUs: UInt32 = 1000, overtakeWindow: Duration, duration: Duration) -> OpsRun {
    let pool = try! QueuePool(poolSize: 8, maxOverflow: 0, timeout: .seconds(60),
                              options: PoolOptions(overtakeWindow: overtakeWindow)) { NoOpConnection() }
    prefill(pool, count: 8)
    return timedThreads(threads, duration: duration) {
        let t0 = nowNs()
        return try pool.withConnection { _ in
            let wait = nowNs() &- t0
            usleep(holdUs)
            return wait
        }
    }
}

/// `--only fairness`: the mock and (with a URL) the real-PostgreSQL thread runs, printed at once.
func fairnessOnly(url: String?, reps: Int, duration: Duration, thinkUs: UInt32) async {
    print("| run | ops/s | p50 wait ms | p99 wait ms | max wait ms |")
    print("|---|---|---|---|---|")
    func row(_ label: String, _ run: OpsRun) {
        print("| \(label) | \(fmt(run.perSecond, 0)) | \(fmt(run.waitPercentileMs(0.5), 2)) | \(fmt(run.waitPercentileMs(0.99), 2)) | \(fmt(run.maxWaitMs, 1)) |")
    }
    for _ in 0..<reps {
        for (name, window) in [("1 ms", Duration.milliseconds(1)), ("zero", .zero)] {
            row("mock 1 ms hold, window \(name)", mockHoldThreads(overtakeWindow: window, duration: duration))
            if let url {
                let pool = try! await makePQPool(url: url, overtakeWindow: window)
                row("PG pg_sleep(0.001), think \(thinkUs) µs, window \(name)", pqThreads(pool, threads: 64, sql: "SELECT 1 FROM pg_sleep(0.001)", duration: duration, thinkUs: thinkUs))
                await pool.shutdown(gracePeriod: .seconds(2))
            }
        }
    }
}
