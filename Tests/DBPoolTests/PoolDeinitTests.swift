import DBPool
import DBPoolTesting
import Foundation
import XCTest

/// A QueuePool nobody holds any more is freed, closing its idle connections: neither the closed
/// fairies it keeps for reuse nor its maintenance thread keep it alive.
final class PoolDeinitTests: XCTestCase {
    /// A pool whose fairies were all closed and let go of (the pool keeps closed fairies for reuse)
    /// is freed, and its idle connections are closed.
    func testADroppedPoolIsFreedAndClosesItsIdleConnections() throws {
        let dbapi = MockDBAPI()
        weak var weakPool: QueuePool<MockConnection>?
        do {
            let pool = try lifecyclePool(dbapi: dbapi)
            weakPool = pool
            let fairies = try (0..<3).map { _ in try pool.connect() }
            fairies.forEach { $0.close() }
            XCTAssertEqual(dbapi.openConnections.count, 3)
        }
        XCTAssertNil(weakPool, "nothing keeps a pool alive once its fairies are gone")
        XCTAssertEqual(dbapi.openConnections.count, 0, "its idle connections were closed")
    }

    /// The maintenance thread (running for idleTimeout and minIdle) does not keep the pool alive.
    func testMaintenanceThreadDoesNotKeepThePoolAlive() throws {
        weak var weakPool: QueuePool<MockConnection>?
        do {
            let pool = try lifecyclePool(dbapi: MockDBAPI()) {
                $0.idleTimeout = .seconds(1); $0.minIdle = 1
            }
            weakPool = pool
            try pool.connect().close()
        }
        XCTAssertTrue(Harness.eventually { weakPool == nil })
    }
}
