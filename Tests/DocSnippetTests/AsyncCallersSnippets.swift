// The code blocks of AsyncCallersAndThreads.md.

import DBPool
import XCTest

// snippet: async-actor
actor OrderCache {
    let pool: QueuePool<MyConnection>
    var openOrders: [[String?]] = []

    init(pool: QueuePool<MyConnection>) { self.pool = pool }

    func refresh() async throws {
        try await pool.withConnection { conn in
            // Isolated to the actor: its state is written directly, with no hop back.
            openOrders = try conn.connection.query("SELECT id FROM orders WHERE state = 'open'")
        }
    }
}
// end snippet

final class AsyncCallersSnippetTests: XCTestCase {
    func makePool() throws -> QueuePool<MyConnection> {
        try QueuePool(poolSize: 2) { try MyConnection(url: "postgresql://app@db.internal/main") }
    }

    func testWithConnectionRunsOnDriverThreads() async throws {
        let pool = try makePool()
        // snippet: async-with-connection
        // The checkout, the body and the rollback on return all run on the pool's driver threads.
        let open = try await pool.withConnection { conn in
            try conn.connection.query("SELECT id FROM orders WHERE state = 'open'")
        }
        // end snippet
        XCTAssertEqual(open, [["1"]])
    }

    func testSharedDriverThreads() async throws {
        // snippet: async-shared-threads
        // Two pools sharing one set of at most 16 driver threads.
        let threads = try DriverExecutor(maximumThreads: 16)
        let orders = try QueuePool(poolSize: 8, options: PoolOptions(driverThreads: .shared(threads))) {
            try MyConnection(url: "postgresql://app@db.internal/orders")
        }
        let billing = try QueuePool(poolSize: 8, options: PoolOptions(driverThreads: .shared(threads))) {
            try MyConnection(url: "postgresql://app@db.internal/billing")
        }
        // end snippet
        XCTAssertTrue(orders.driverExecutor === billing.driverExecutor)
    }

    func testActorIsolation() async throws {
        let cache = OrderCache(pool: try makePool())
        try await cache.refresh()
        let orders = await cache.openOrders
        XCTAssertEqual(orders, [["1"]])
    }

    func testCloseAndWait() async throws {
        let pool = try makePool()
        // snippet: async-close-and-wait
        let lease = try await pool.connect()
        try lease.connection.execute("UPDATE orders SET state = 'shipped' WHERE id = 7")
        try lease.connection.commit()
        await lease.closeAndWait()           // returns once the connection is back in the pool
        assert(pool.checkedOut == 0)
        // end snippet
        XCTAssertEqual(pool.checkedOut, 0)
    }
}
