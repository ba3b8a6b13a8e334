import DBPool
import Metrics
import Synchronization

/// swift-metrics instruments for one pool, fed from the pool's own `PoolStatistics`.
///
/// Each ``report()`` takes one snapshot (O(1), under the pool's lock) and
/// - sets the gauges `<prefix>.idle`, `.in_use`, `.waiting`, `.connecting`, `.open`;
/// - increments the counters `<prefix>.checkouts`, `.timeouts`, `.connects`,
///   `.connect_failures` and `.closes` (one per close reason, dimension `reason`) by what the
///   pool counted since the previous report. The first report adds everything counted since
///   the pool was made, so nothing before it is lost;
/// - records the checkout waits since the previous report in the timer `<prefix>.checkout_wait`:
///   one value per checkout that had to wait, each the mean of those waits (the pool keeps the
///   total and the count, not every wait). Checkouts that found a connection at once do not wait
///   and are not recorded.
///
/// Call ``run(every:)`` in a task (or a `ServiceGroup`) to report periodically; it reports once
/// more when cancelled, so the last counts are not lost.
///
/// ```swift
/// let metrics = try PoolMetrics(pool, dimensions: [("pool", "orders")])
/// Task { await metrics.run(every: .seconds(10)) }
/// ```
public final class PoolMetrics<P: Pool>: Sendable {
    /// The pool reported on.
    public let pool: P

    private let idle, inUse, waiting, connecting, open: Gauge
    private let checkouts, timeouts, connects, connectFailures: Counter
    private let closes: [CloseReason: Counter]
    private let checkoutWait: Metrics.Timer
    private let last = Mutex(Totals())

    /// The cumulative counts already reported.
    private struct Totals {
        var checkouts = 0, timeouts = 0, connects = 0, connectFailures = 0, waits = 0
        var waitTime = Duration.zero
        var closes: [CloseReason: Int] = [:]
    }

    /// Creates the instruments (`<labelPrefix>.<name>`, each with `dimensions`), made by `factory`.
    /// Throws `PoolError.invalidArgument(_:)` for an empty prefix.
    public init(
        _ pool: P, labelPrefix: String = "dbpool", dimensions: [(String, String)] = [],
        factory: any MetricsFactory = MetricsSystem.factory
    ) throws {
        guard !labelPrefix.isEmpty else {
            throw PoolError.invalidArgument("labelPrefix must be a non-empty metric label prefix; got \"\"")
        }
        self.pool = pool
        func label(_ name: String) -> String { "\(labelPrefix).\(name)" }
        idle = Gauge(label: label("idle"), dimensions: dimensions, factory: factory)
        inUse = Gauge(label: label("in_use"), dimensions: dimensions, factory: factory)
        waiting = Gauge(label: label("waiting"), dimensions: dimensions, factory: factory)
        connecting = Gauge(label: label("connecting"), dimensions: dimensions, factory: factory)
        open = Gauge(label: label("open"), dimensions: dimensions, factory: factory)
        checkouts = Counter(label: label("checkouts"), dimensions: dimensions, factory: factory)
        timeouts = Counter(label: label("timeouts"), dimensions: dimensions, factory: factory)
        connects = Counter(label: label("connects"), dimensions: dimensions, factory: factory)
        connectFailures = Counter(label: label("connect_failures"), dimensions: dimensions, factory: factory)
        var closes: [CloseReason: Counter] = [:]
        for reason in CloseReason.allCases {
            closes[reason] = Counter(label: label("closes"), dimensions: dimensions + [("reason", reason.rawValue)], factory: factory)
        }
        self.closes = closes
        checkoutWait = Metrics.Timer(label: label("checkout_wait"), dimensions: dimensions, factory: factory)
    }

    /// Reports the pool's state and what it counted since the previous report. Thread-safe;
    /// concurrent reports never count anything twice.
    public func report() {
        let now = pool.statistics
        idle.record(now.idle)
        inUse.record(now.inUse)
        waiting.record(now.waiters)
        connecting.record(now.connecting)
        open.record(now.openConnections)
        last.withLock { totals in
            Self.add(now.checkouts, to: checkouts, after: &totals.checkouts)
            Self.add(now.timeouts, to: timeouts, after: &totals.timeouts)
            Self.add(now.connectionsCreated, to: connects, after: &totals.connects)
            Self.add(now.connectFailures, to: connectFailures, after: &totals.connectFailures)
            for (reason, counter) in closes {
                var reported = totals.closes[reason, default: 0]
                Self.add(now.closes[reason, default: 0], to: counter, after: &reported)
                totals.closes[reason] = reported
            }
            let newWaits = now.waits - totals.waits
            if newWaits > 0 {
                let mean = (now.totalWaitTime - totals.waitTime) / newWaits
                let (seconds, attoseconds) = mean.components
                let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
                for _ in 0..<newWaits { checkoutWait.recordNanoseconds(nanoseconds) }
            }
            totals.waits = now.waits
            totals.waitTime = now.totalWaitTime
        }
    }

    /// Reports every `interval` until the task is cancelled, then once more. Throws nothing:
    /// cancellation is how it ends.
    public func run(every interval: Duration = .seconds(10)) async {
        while !Task.isCancelled {
            report()
            try? await Task.sleep(for: interval)
        }
        report()
    }

    private static func add(_ total: Int, to counter: Counter, after reported: inout Int) {
        // A count that went down (never, for the pool's cumulative counters) is ignored rather
        // than decremented: counters only grow.
        if total > reported { counter.increment(by: total - reported) }
        reported = max(reported, total)
    }
}
