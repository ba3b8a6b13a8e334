import DBPool
import DBPoolTesting
import Foundation
import XCTest

/// minIdle and failFast: a QueuePool opens minIdle connections before its initialiser returns
/// (throwing the connect error with failFast), and keeps that many idle connections open.
final class WarmPoolTests: XCTestCase {
    /// minIdle connections are open when the initialiser returns; opening them is not a checkout.
    func testMinIdleOpensConnectionsAtConstruction() throws {
        let dbapi = MockDBAPI()
        let pool = try lifecyclePool(dbapi: dbapi) { $0.minIdle = 2 }
        XCTAssertEqual(dbapi.connections.count, 2)
        XCTAssertEqual(pool.checkedIn, 2)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(pool.statistics.checkouts, 0, "pre-fill is not a checkout")
    }

    /// With failFast, a connect that fails while filling minIdle fails the initialiser with its
    /// error, and no connection is left open.
    func testFailFastThrowsTheConnectErrorAndLeavesNothingOpen() throws {
        let dbapi = MockDBAPI()
        dbapi.failNextConnects(1, with: MockError("refused"))
        XCTAssertThrowsError(
            try lifecyclePool(dbapi: dbapi) {
                $0.minIdle = 3; $0.failFast = true
            }
        ) { error in
            XCTAssertEqual(error as? MockError, MockError("refused"))
        }
        XCTAssertEqual(dbapi.openConnections.count, 0)
    }

    /// Without failFast, a pool whose database is down is made anyway, and the maintenance thread
    /// fills minIdle once connects work.
    func testWithoutFailFastThePoolFillsItselfLater() throws {
        let dbapi = MockDBAPI()
        dbapi.shutdown(true)
        let pool = try lifecyclePool(dbapi: dbapi) { $0.minIdle = 2 }
        XCTAssertEqual(pool.checkedIn, 0)
        dbapi.shutdown(false)
        XCTAssertTrue(Harness.eventually { pool.checkedIn == 2 }, "the maintenance thread tops up minIdle")
        XCTAssertEqual(pool.checkedOut, 0)
    }

    /// Before: minIdle counted records, so after an invalidation the pool reported one idle
    /// record, had no open connection, and never topped up.
    func testMinIdleCountsConnectionsNotRecords() throws {
        let dbapi = MockDBAPI()
        let pool = try lifecyclePool(1, dbapi: dbapi) { $0.minIdle = 1 }
        XCTAssertEqual(dbapi.openConnections.count, 1)
        try pool.connect().invalidate()
        // The connection opens before the connect is counted finished, so wait for both.
        XCTAssertTrue(
            Harness.eventually { dbapi.openConnections.count == 1 && pool.statistics.connecting == 0 },
            "the idle record was reconnected; connecting: \(pool.statistics.connecting)")
        XCTAssertEqual(pool.checkedIn, 1)
    }

    /// A connection the pool opened on its own (here for minIdle) may sit idle for a long time
    /// before its first checkout, so pre-ping checks it then; only a connection made for the
    /// checkout itself skips the ping.
    func testPrePingChecksAPreFilledConnectionAtItsFirstCheckout() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try QueuePool(
            poolSize: 2, maxOverflow: 0, options: PoolOptions(prePing: true, logHandler: .disabled, minIdle: 1),
            dialect: MockDialect(log: log), creator: dbapi.creator())
        defer { pool.dispose() }
        XCTAssertEqual(dbapi.connections.count, 1, "minIdle opened one")
        let first = try pool.connect()
        XCTAssertEqual(log.entries.filter { $0 == "P" }.count, 1, "the pre-filled connection is pinged")
        let second = try pool.connect()
        XCTAssertEqual(dbapi.connections.count, 2)
        XCTAssertEqual(log.entries.filter { $0 == "P" }.count, 1, "the one made for this checkout is not")
        first.close()
        second.close()
    }
}
