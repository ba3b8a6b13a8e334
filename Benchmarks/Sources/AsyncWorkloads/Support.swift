import BenchSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A task on the global (cooperative) executor that sleeps `interval` (5 ms unless told) in a
/// loop, and the longest interval between two of its wake-ups. An interval far above the sleep
/// means the cooperative threads were held by something else: every task in the process waited
/// as long.
final class Heartbeat: Sendable {
    private let stop = Atomic<Bool>(false)

    /// Runs `body` with the heartbeat going (started 50 ms before, stopped after) and returns the
    /// worst interval in milliseconds (the sleep included: the lateness is this minus `interval`).
    static func measure(interval: Duration = .milliseconds(5), _ body: @Sendable () async -> Void) async -> Double {
        let heartbeat = Heartbeat()
        let beat = Task.detached { () -> UInt64 in
            var worst: UInt64 = 0
            var last = nowNs()
            while !heartbeat.stop.load(ordering: .relaxed) {
                try? await Task.sleep(for: interval)
                let now = nowNs()
                worst = max(worst, now &- last)
                last = now
            }
            return worst
        }
        try? await Task.sleep(for: .milliseconds(50))
        await body()
        heartbeat.stop.store(true, ordering: .relaxed)
        return Double(await beat.value) / 1e6
    }
}

/// Per-worker result slots, each written by its own worker only.
final class Slots<T>: @unchecked Sendable {
    private let base: UnsafeMutablePointer<T>
    let count: Int
    init(count: Int, initial: T) {
        self.count = count
        base = .allocate(capacity: count)
        base.initialize(repeating: initial, count: count)
    }
    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }
    subscript(i: Int) -> T {
        get { base[i] }
        set { base[i] = newValue }
    }
    var all: [T] { (0..<count).map { base[$0] } }
}

/// What a timed run of many workers did: operations per second and each checkout's wait.
struct OpsRun {
    var ops: Int
    var wallNs: UInt64
    var waits: [UInt64]

    var perSecond: Double { Double(ops) / (Double(wallNs) / 1e9) }
    var maxWaitMs: Double { Double(waits.max() ?? 0) / 1e6 }
    func waitPercentileMs(_ p: Double) -> Double {
        guard !waits.isEmpty else { return 0 }
        let sorted = waits.sorted()
        return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1e6
    }
}

/// `count` async tasks that each repeat `op` until `duration` has passed. `op` returns its wait.
func timedTasks(
    _ count: Int, duration: Duration, preferring executor: (any TaskExecutor)? = nil,
    _ op: @escaping @Sendable () async throws -> UInt64
) async -> OpsRun {
    let deadline = nowNs() &+ UInt64(durationNs(duration))
    let start = nowNs()
    let waits = await withTaskGroup(of: [UInt64].self) { group in
        for _ in 0..<count {
            group.addTask {
                await withTaskExecutorPreference(executor) {
                    var waits: [UInt64] = []
                    waits.reserveCapacity(4096)
                    while nowNs() < deadline {
                        do { waits.append(try await op()) } catch { fatalError("workload failed: \(error)") }
                    }
                    return waits
                }
            }
        }
        var all: [UInt64] = []
        for await part in group { all += part }
        return all
    }
    return OpsRun(ops: waits.count, wallNs: nowNs() &- start, waits: waits)
}

/// `count` fresh threads that each repeat `op` until `duration` has passed. `op` returns its wait.
func timedThreads(_ count: Int, duration: Duration, _ op: @escaping @Sendable () throws -> UInt64) -> OpsRun {
    let slots = Slots<[UInt64]>(count: count, initial: [])
    let nanos = UInt64(durationNs(duration))
    let wall = runOnThreads(count) { i in
        let deadline = nowNs() &+ nanos
        var waits: [UInt64] = []
        waits.reserveCapacity(4096)
        while nowNs() < deadline {
            do { waits.append(try op()) } catch { fatalError("workload failed: \(error)") }
        }
        slots[i] = waits
    }
    let waits = slots.all.flatMap { $0 }
    return OpsRun(ops: waits.count, wallNs: wall, waits: waits)
}

func durationNs(_ d: Duration) -> Int64 {
    let (s, a) = d.components
    return s * 1_000_000_000 + a / 1_000_000_000
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func fmt(_ v: Double, _ digits: Int = 1) -> String {
    guard v.isFinite else { return "n/a" }
    return String(format: "%.\(digits)f", v)
}

/// "median (min-max)" of repeated measurements.
func spread(_ values: [Double], _ digits: Int = 1) -> String {
    guard let lo = values.min(), let hi = values.max() else { return "n/a" }
    if values.count == 1 { return fmt(values[0], digits) }
    return "\(fmt(median(values), digits)) (\(fmt(lo, digits))–\(fmt(hi, digits)))"
}

func loadAverage() -> String {
    var loads = [Double](repeating: 0, count: 3)
    guard getloadavg(&loads, 3) == 3 else { return "?" }
    return loads.map { fmt($0, 2) }.joined(separator: " ")
}
