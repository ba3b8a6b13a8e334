import DBPool
import DBPoolMetrics
import DBPoolTesting
import Metrics
import MetricsTestKit
import XCTest

final class MetricsTests: XCTestCase {
    func testCountsIncludeEverythingBeforeTheFirstReportAndGrowByDeltas() async throws {
        let factory = TestMetrics()
        let dbapi = MockDBAPI()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 1, timeout: .milliseconds(20), options: PoolOptions(logHandler: .disabled),
            dialect: MockDialect(), creator: dbapi.creator())
        // Two connections made before the metrics exist.
        let a = try await pool.connect(), b = try await pool.connect()
        let metrics = try PoolMetrics(pool, dimensions: [("pool", "orders")], factory: factory)
        metrics.report()
        let dims = [("pool", "orders")]
        XCTAssertEqual(try factory.expectCounter("dbpool.connects", dims).totalValue, 2)
        XCTAssertEqual(try factory.expectCounter("dbpool.checkouts", dims).totalValue, 2)
        XCTAssertEqual(try factory.expectGauge("dbpool.in_use", dims).lastValue, 2)
        XCTAssertEqual(try factory.expectGauge("dbpool.open", dims).lastValue, 2)
        XCTAssertEqual(try factory.expectGauge("dbpool.idle", dims).lastValue, 0)

        // A timeout: one wait, one timeout.
        do { _ = try await pool.connect(); XCTFail("expected a timeout") } catch PoolError.timeout {}
        await a.closeAndWait()
        await b.closeAndWait()  // overflow: closed on return
        metrics.report()
        metrics.report()  // a second report with nothing new adds nothing
        XCTAssertEqual(try factory.expectCounter("dbpool.timeouts", dims).totalValue, 1)
        XCTAssertEqual(try factory.expectCounter("dbpool.checkouts", dims).totalValue, 2)
        XCTAssertEqual(try factory.expectCounter("dbpool.closes", dims + [("reason", "overflow")]).totalValue, 1)
        XCTAssertEqual(try factory.expectGauge("dbpool.idle", dims).lastValue, 1)
        XCTAssertEqual(try factory.expectGauge("dbpool.waiting", dims).lastValue, 0)
        XCTAssertEqual(try factory.expectGauge("dbpool.connecting", dims).lastValue, 0)
        let wait = try factory.expectTimer("dbpool.checkout_wait", dims)
        XCTAssertEqual(wait.values.count, 1)
        XCTAssertGreaterThanOrEqual(wait.values[0], 15_000_000, "the timed-out wait lasted about the timeout")

        dbapi.failNextConnects(1)
        pool.dispose()
        do { _ = try await pool.connect(); XCTFail("expected the connect error") } catch is MockError {}
        metrics.report()
        XCTAssertEqual(try factory.expectCounter("dbpool.connect_failures", dims).totalValue, 1)
        XCTAssertEqual(try factory.expectCounter("dbpool.closes", dims + [("reason", "disposed")]).totalValue, 1)
    }

    func testRunReportsUntilCancelledAndOnceMore() async throws {
        let factory = TestMetrics()
        let pool = try NullPool(options: PoolOptions(logHandler: .disabled), dialect: MockDialect(), creator: MockDBAPI().creator())
        let metrics = try PoolMetrics(pool, labelPrefix: "db", factory: factory)
        let task = Task { await metrics.run(every: .milliseconds(5)) }
        try await pool.withConnection { _ in }
        task.cancel()
        await task.value
        XCTAssertEqual(try factory.expectCounter("db.connects").totalValue, 1)
        XCTAssertEqual(try factory.expectCounter("db.closes", [("reason", "disposed")]).totalValue, 1)
        XCTAssertThrowsError(try PoolMetrics(pool, labelPrefix: "", factory: factory))
    }
}
