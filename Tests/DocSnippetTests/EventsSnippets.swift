// The code blocks of Events.md.

import DBPool
import XCTest

final class EventsSnippetTests: XCTestCase {
    func testRegisterAndRemove() throws {
        let pool = try QueuePool(poolSize: 1) { try MyConnection(url: "postgresql://app@db.internal/main") }
        // snippet: events-register
        // Every new driver connection gets the session settings the application expects.
        pool.events.onConnect { connection, _ in
            try connection.execute("SET TIME ZONE 'UTC'")
        }

        // Count connections that the pool had to throw away, and why.
        let token = pool.events.onInvalidate { _, _, error in
            print("connection invalidated: \(error.map { "\($0)" } ?? "no error")")
        }
        pool.events.remove(token)
        // end snippet
        let conn = try pool.connect()
        XCTAssertEqual(conn.connection.statements, ["SET TIME ZONE 'UTC'"])
        conn.close()
    }

    func testCheckoutListenerRejectsAReplica() throws {
        let pool = try QueuePool(poolSize: 1) { try MyConnection(url: "postgresql://app@db.internal/main") }
        // snippet: events-checkout-disconnect
        pool.events.onCheckout { connection, _, _ in
            guard try connection.query("SELECT pg_is_in_recovery()") == [["f"]] else {
                // A replica after a failover: replace this connection (and the others opened before it).
                throw DisconnectionError(invalidatePool: true)
            }
        }
        // end snippet
        // MyConnection answers every query with "1", so it always looks like a replica: the
        // pool retries once with a new connection and then gives up.
        XCTAssertThrowsError(try pool.connect()) { error in
            guard case PoolError.connectionClosed = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(pool.checkedOut, 0)
    }
}
