import Synchronization
import BenchSupport
import DBPool

// A small release driver for `valgrind --tool=callgrind`: runs one workload N times with no
// benchmark harness around it, plus a few quick probes (see RESULTS.md). Usage:
// CallgrindDriver <w1|w1with|w1async|w3|w2|w2probe|w2control|w2tails|w2queue|w64|w5cancel> [count]
let args = CommandLine.arguments
let workload = args.count > 1 ? args[1] : "w1"
let count = args.count > 2 ? Int(args[2])! : 100_000

let pool = makeQueuePool()
prefill(pool, count: 4)

switch workload {
case "w1":
    // In a synchronous function: top-level code that awaits anywhere is an async context, where
    // the blocking connect() is unavailable (noasync).
    func cycles() throws {
        for _ in 0..<count {
            let fairy = try pool.connect()
            fairy.close()
        }
    }
    try cycles()
case "w1with":
    func cycles() throws {
        for _ in 0..<count { try pool.withConnection { _ in } }
    }
    try cycles()
case "w1async":
    // Inside a function: top-level code does not count as an async context for overload
    // ranking, and would pick the blocking connect().
    func cycles() async throws {
        for _ in 0..<count {
            let fairy = try await pool.connect()
            fairy.close()
        }
    }
    try await cycles()
case "w3":
    let run = await contendedTasks(pool, tasks: 1000, cycles: count)
    print("W3 wall \(run.wallNs / 1_000_000) ms")
    run.free()
case "w2":
    let run = contendedThreads(pool, threads: 8, cycles: count)
    print("W2 wall \(run.wallNs / 1_000_000) ms")
    run.free()
case "w2probe":
    // Quick look at contention without the harness: 5 runs per thread count, median throughput
    // and the wait percentiles over all runs.
    for threads in [2, 8, 64] {
        var walls: [UInt64] = []
        var waits: [UInt64] = []
        for _ in 0..<5 {
            let p = makeQueuePool()
            prefill(p, count: 4)
            let run = contendedThreads(p, threads: threads, cycles: count)
            walls.append(run.wallNs)
            waits.append(contentsOf: UnsafeBufferPointer(start: run.waits.base, count: run.waits.count))
            run.free()
        }
        walls.sort(); waits.sort()
        let x = Double(count) / (Double(walls[2]) / 1e9)
        let ideal = Double(threads) / x * 1e9
        func pct(_ q: Double) -> UInt64 { waits[min(waits.count - 1, Int(Double(waits.count) * q))] }
        print("threads \(threads): \(Int(x / 1000)) k/s  p50 \(pct(0.5)) ns  p99 \(pct(0.99)) ns  max \(waits.last!) ns  ideal \(Int(ideal)) ns  max/ideal \(Int(Double(waits.last!) / ideal))")
    }
case "w2control":
    // The scheduler's share of W2's tail (see controlThreads).
    for threads in [2, 8, 64] {
        let run = controlThreads(threads: threads, cycles: count)
        var all = Array(UnsafeBufferPointer(start: run.waits.base, count: run.waits.count))
        run.free()
        all.sort()
        func pct(_ q: Double) -> UInt64 { all[min(all.count - 1, Int(Double(all.count) * q))] }
        print("control threads \(threads): p50 \(pct(0.5)) ns  p99 \(pct(0.99)) ns  p99.9 \(pct(0.999)) ns  max \(all.last!) ns")
    }
case "w2tails":
    // Typical worst wait per run (median over 7 runs of each run's max) for our pool, the
    // no-pool control and the counting-semaphore control.
    for threads in [2, 8, 64] {
        var rows: [(String, [UInt64])] = [("pool", []), ("strict", []), ("control", []), ("semaphore", [])]
        for _ in 0..<7 {
            for k in rows.indices {
                let run: ContendedRun
                switch rows[k].0 {
                case "pool": let p = makeQueuePool(); prefill(p, count: 4); run = contendedThreads(p, threads: threads, cycles: count)
                case "strict": let p = makeQueuePool(overtakeWindow: .zero); prefill(p, count: 4); run = contendedThreads(p, threads: threads, cycles: count)
                case "control": run = controlThreads(threads: threads, cycles: count * 8)
                default: run = semaphoreThreads(threads: threads, permits: 4, cycles: count * 8)
                }
                rows[k].1.append(UnsafeBufferPointer(start: run.waits.base, count: run.waits.count).max()!)
                if k == 0 || k == 2 { print("  \(rows[k].0) wall \(run.wallNs / 1000) µs") }
                run.free()
            }
        }
        print("threads \(threads): " + rows.map { "\($0.0) run max \($0.1.sorted()[3] / 1000) µs" }.joined(separator: ", "))
    }
case "w2queue":
    // How often W2's threads queue, and how long the longest queued wait is, per run.
    for threads in [8, 64] {
        for window in [Duration.milliseconds(1), .zero] {
            for _ in 0..<3 {
                let p = makeQueuePool(overtakeWindow: window)
                prefill(p, count: 4)
                let run = contendedThreads(p, threads: threads, cycles: count)
                let maxWait = UnsafeBufferPointer(start: run.waits.base, count: run.waits.count).max()!
                let slow = UnsafeBufferPointer(start: run.waits.base, count: run.waits.count).filter { $0 > 100_000 }.count
                run.free()
                let stats = p.statistics
                print("threads \(threads) window \(window): run max \(maxWait / 1000) µs, waits > 100 µs: \(slow); queued \(stats.waits) times, longest queued \(stats.maxWaitTime)")
            }
        }
    }
case "w64":
    // 64-thread W2 runs one after another: throughput and queueing per run, to see the modes.
    let window: Duration = args.count > 3 ? .microseconds(Int(args[3])!) : .milliseconds(1)
    for _ in 0..<12 {
        let p = makeQueuePool(overtakeWindow: window)
        prefill(p, count: 4)
        let run = contendedThreads(p, threads: 64, cycles: count)
        let waits = UnsafeBufferPointer(start: run.waits.base, count: run.waits.count).sorted()
        run.free()
        let stats = p.statistics
        print("\(Int(Double(count) / (Double(run.wallNs) / 1e9) / 1000)) k/s  p99 \(waits[waits.count * 99 / 100] / 1000) µs  max \(waits.last! / 1000) µs  queued \(stats.waits)  longest queued \(stats.maxWaitTime)")
    }
case "w5cancel":
    // enqueue+cancel cost per op at three queue depths, with the default timeout and without
    // one (no deadline to watch), median of 5 runs of `count` ops.
    for timeout in [Duration.seconds(30), nil] {
        for depth in [1, 100, 10_000] {
            let fixture = await WaiterFixture(depth: depth, timeout: timeout)
            var costs: [UInt64] = []
            for _ in 0..<5 {
                let t0 = nowNs()
                await fixture.enqueueAndCancel(count)
                costs.append((nowNs() - t0) / UInt64(count))
            }
            await fixture.tearDown()
            costs.sort()
            print("timeout \(timeout.map { "\($0)" } ?? "nil") depth \(depth): \(costs[2]) ns/op")
        }
    }
default:
    fatalError("unknown workload \(workload)")
}
print("done \(workload) x \(count)")
