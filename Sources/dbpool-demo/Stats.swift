import Synchronization

/// The run's shared counters, updated by workers, pool event listeners and the chaos driver,
/// and read by the status line while the run goes on. Plain atomics: every writer only adds,
/// and a status line that is one operation behind is fine.
final class RunStats: Sendable {
    /// Operations that completed (committed writes plus reads).
    let operations = Atomic<Int>(0)
    /// Of ``operations``, the writes.
    let writes = Atomic<Int>(0)
    /// Operations that failed, at checkout or inside.
    let errors = Atomic<Int>(0)
    /// `connect` events: every new driver connection, first or replacement.
    let connectionsCreated = Atomic<Int>(0)
    /// `invalidate` events: hard invalidations (disconnect errors, failed pre-pings).
    let invalidations = Atomic<Int>(0)
    /// `close` events: every pooled connection closed, for whatever reason.
    let closes = Atomic<Int>(0)
    /// Connections the chaos driver actually cut.
    let chaosKills = Atomic<Int>(0)
    /// ``operations`` at the moment of the first chaos kill (-1 before it), so that the summary
    /// can show that work went on afterwards.
    let operationsAtFirstKill = Atomic<Int>(-1)

    private let errorKinds = Mutex<[String: Int]>([:])

    /// How many distinct error messages are kept; the rest are lumped together, so that a
    /// message carrying a changing detail (a PID, a row count) cannot grow the table without end.
    static let maxErrorKinds = 12

    /// Counts a failed operation under its message.
    func recordError(_ error: any Error) {
        errors.add(1, ordering: .relaxed)
        var message = scrubbedOfSecrets(singleLine(String(describing: error)))
        if message.count > 160 { message = String(message.prefix(157)) + "..." }
        errorKinds.withLock { kinds in
            if kinds[message] == nil, kinds.count >= Self.maxErrorKinds {
                message = "(other errors)"
            }
            kinds[message, default: 0] += 1
        }
    }

    /// The error messages seen, most frequent first.
    func errorBreakdown() -> [(message: String, count: Int)] {
        errorKinds.withLock { $0 }
            .map { (message: $0.key, count: $0.value) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.message < $1.message }
    }

    /// Counts a chaos kill, remembering how far the workload had got at the first one.
    func recordKill(count: Int = 1) {
        guard count > 0 else { return }
        _ = operationsAtFirstKill.compareExchange(
            expected: -1, desired: operations.load(ordering: .relaxed), ordering: .relaxed)
        chaosKills.add(count, ordering: .relaxed)
    }
}

/// Checkout wait times in nanoseconds, gathered per worker without locking and merged at the end.
struct WaitTimes: Sendable {
    private(set) var samples: [Int64] = []

    mutating func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        samples.append(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    mutating func merge(_ other: WaitTimes) {
        samples.append(contentsOf: other.samples)
    }

    /// p50, p99 and max, by the nearest-rank method; `nil` when nothing was measured.
    func percentiles() -> (p50: Int64, p99: Int64, max: Int64)? {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        func rank(_ p: Double) -> Int64 {
            let index = Int((p * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(max(index, 0), sorted.count - 1)]
        }
        return (rank(0.50), rank(0.99), sorted[sorted.count - 1])
    }
}
