#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wait-time and throughput figures of one contended benchmark, accumulated over its iterations
/// and written as one JSON object to `$DBPOOL_BENCH_STATS_DIR/<name>.json` (read by ./run).
///
/// Per cycle a worker takes three clock readings it shares between cycles: t0 before
/// `connect()`/lease, t1 when it returns (wait = t1 - t0), t2 after `close()`/release
/// (hold = t2 - t1; the next cycle's t0 is t2). So every measured pool pays two clock reads
/// (~25 ns each) per cycle on top of its own cost.
public final class ContendedStats: @unchecked Sendable {
    public let name: String
    public let workers: Int
    public let poolSize: Int
    public let cyclesPerIteration: Int
    private var walls: [UInt64] = []
    private var waits: [UInt64] = []
    /// Each run's longest wait: their median is the typical worst wait of one run, which one
    /// hiccup of the shared machine cannot move the way it moves the maximum over all runs.
    private var runMaxima: [UInt64] = []
    private var holdSum: UInt64 = 0
    private var holdCount: UInt64 = 0

    public init(name: String, workers: Int, poolSize: Int, cyclesPerIteration: Int) {
        self.name = name
        self.workers = workers
        self.poolSize = poolSize
        self.cyclesPerIteration = cyclesPerIteration
    }

    public func add(wallNs: UInt64, waits buffer: SharedBuffer, holds: SharedBuffer) {
        // Throughput per run from the cycles actually run (controls run more than the nominal).
        walls.append(UInt64(Double(wallNs) * Double(cyclesPerIteration) / Double(max(buffer.count, 1))))
        runMaxima.append(UnsafeBufferPointer(start: buffer.base, count: buffer.count).max() ?? 0)
        waits.append(contentsOf: UnsafeBufferPointer(start: buffer.base, count: buffer.count))
        for i in 0..<holds.count { holdSum &+= holds.base[i] }
        holdCount &+= UInt64(buffer.count)
    }

    public func write() {
        guard !walls.isEmpty else { return }
        let sortedWalls = walls.sorted()
        let wallMedian = sortedWalls[sortedWalls.count / 2]
        waits.sort()
        func pct(_ p: Double) -> UInt64 { waits[min(waits.count - 1, Int(Double(waits.count) * p))] }
        let throughput = Double(cyclesPerIteration) / (Double(wallMedian) / 1e9)
        let holdMean = Double(holdSum) / Double(max(holdCount, 1))
        let waitMean = Double(waits.reduce(0, &+)) / Double(max(waits.count, 1))
        let json = """
        {"name":"\(name)","workers":\(workers),"poolSize":\(poolSize),"cyclesPerIteration":\(cyclesPerIteration),\
        "iterations":\(walls.count),"wallMedianNs":\(wallMedian),"throughputPerSec":\(Int(throughput)),\
        "waitP50Ns":\(pct(0.50)),"waitP99Ns":\(pct(0.99)),"waitMaxNs":\(waits.last!),"waitMeanNs":\(Int(waitMean)),\
        "waitRunMaxMedianNs":\(runMaxima.sorted()[runMaxima.count / 2]),\
        "holdMeanNs":\(Int(holdMean))}

        """
        let dir = getenv("DBPOOL_BENCH_STATS_DIR").map { String(cString: $0) } ?? "/tmp/dbpool-bench-stats"
        mkdir(dir, 0o755)
        let slug = String(name.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        guard let file = fopen("\(dir)/\(slug).json", "w") else { return }
        fputs(json, file)
        fclose(file)
    }
}
