// The code blocks of Observability.md.
//
// The swift-log and swift-metrics bridges import packages that the root package must not depend
// on, so this file declares minimal stand-ins with the same shapes (`Logger`, `Logger.Level`,
// `log(level:_:metadata:)`, `Gauge.record`, `Counter.increment`). The snippets still compile
// against the real DBPool API, which is what can change under them.

import DBPool
import DBPoolPostgres
import XCTest

// MARK: Stand-ins for swift-log and swift-metrics

struct Logger: Sendable {
    enum Level: Sendable { case trace, debug, info, notice, warning, error, critical }
    let label: String
    init(label: String) { self.label = label }
    func log(level: Level, _ message: String, metadata: [String: String]? = nil) {}
}

final class Gauge: Sendable {
    let label: String
    init(label: String) { self.label = label }
    func record<DataType: BinaryInteger>(_ value: DataType) {}
}

final class Counter: Sendable {
    let label: String
    init(label: String) { self.label = label }
    func increment<DataType: BinaryInteger>(by amount: DataType) {}
    func increment() {}
}

// MARK: Snippets

// snippet: observability-metrics
//! import Metrics
//! import DBPool

func exportMetrics<C>(of pool: QueuePool<C>, label: String, every interval: Duration = .seconds(10)) -> Task<Void, Never> {
    let inUse = Gauge(label: "\(label).in_use"), idle = Gauge(label: "\(label).idle"), waiters = Gauge(label: "\(label).waiters")
    let timeouts = Counter(label: "\(label).timeouts"), created = Counter(label: "\(label).created")
    let closed = Counter(label: "\(label).closed_invalidated")
    pool.events.onInvalidate { _, _, _ in closed.increment() }          // events, as they happen
    return Task {
        var last = pool.statistics
        while !Task.isCancelled {
            let now = pool.statistics                                      // a snapshot, O(1)
            inUse.record(now.inUse); idle.record(now.idle); waiters.record(now.waiters)
            timeouts.increment(by: now.timeouts - last.timeouts)
            created.increment(by: now.connectionsCreated - last.connectionsCreated)
            last = now
            try? await Task.sleep(for: interval)
        }
    }
}
// end snippet

final class ObservabilitySnippetTests: XCTestCase {
    func testStatisticsAndHolders() throws {
        let pool = try QueuePool(poolSize: 2) { try MyConnection(url: "postgresql://app@db.internal/main") }
        let held = try pool.connect()
        // snippet: observability-statistics
        let stats = pool.statistics
        if stats.waiters > 0, stats.consecutiveConnectFailures > 0 {
            print("waiting for a database that refuses connections: \(stats.lastConnectError.map { "\($0)" } ?? "")")
        }
        print("recycled by age: \(stats.closes[.recycledByAge, default: 0]), timeouts: \(stats.timeouts)")
        // end snippet
        XCTAssertEqual(stats.inUse, 1)
        // snippet: observability-holders
        for holder in pool.checkedOutConnections() where holder.age > .seconds(5) {
            print("held too long: \(holder)")      // e.g. "Orders/Checkout.swift:88 held 7.2 seconds"
        }
        // end snippet
        XCTAssertEqual(pool.checkedOutConnections().count, 1)
        held.close()
    }

    func testSwiftLogBridge() throws {
        // snippet: observability-swift-log
        //! import Logging

        let logger = Logger(label: "db.pool")
        let levels: [PoolLogLevel: Logger.Level] = [.debug: .debug, .info: .info, .warning: .warning, .error: .error]
        var options = PoolOptions()
        options.logHandler = PoolLogHandler(level: .info) { message in
            logger.log(level: levels[message.level]!, "\(message.message)",
                       metadata: ["pool": "\(message.poolName)", "error": "\(message.error.map { "\($0)" } ?? "")"])
        }
        // end snippet
        let pool = try QueuePool(poolSize: 1, options: options) { try MyConnection(url: "x") }
        try pool.connect().close()
    }

    func testMetricsExporter() async throws {
        let pool = try QueuePool(poolSize: 1) { try MyConnection(url: "x") }
        let task = exportMetrics(of: pool, label: "db", every: .milliseconds(1))
        task.cancel()
        await task.value
    }

    func testRegistry() throws {
        // snippet: observability-registry
        let registry = PoolRegistry<String, QueuePool<PostgresConnection>> { url in
            try QueuePool(poolSize: 10, dialect: PostgresDialect()) { try PostgresConnection(url: url) }
        }
        let pool = try registry.pool(for: "postgresql://app@127.0.0.1/main")
        // end snippet
        XCTAssertTrue(pool === (try registry.pool(for: "postgresql://app@127.0.0.1/main")), "made once per key")
        registry.disposeAll()
    }
}
