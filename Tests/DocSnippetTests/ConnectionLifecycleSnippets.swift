// The code blocks of ConnectionLifecycle.md.

import DBPool
import XCTest

final class ConnectionLifecycleSnippetTests: XCTestCase {
    func testRecycleOptions() throws {
        // snippet: lifecycle-recycle
        var options = PoolOptions(recycle: .seconds(3600), prePing: true)
        options.recycleJitter = 0.1          // each connection lives 54 to 60 minutes
        options.maxUsage = 10_000
        let pool = try QueuePool(poolSize: 10, options: options, dialect: MyDialect()) {
            try MyConnection(url: "postgresql://app@db.internal/main")
        }
        // end snippet
        try pool.connect().close()
        XCTAssertEqual(pool.checkedIn, 1)
    }

    func testDisconnectInWithConnection() throws {
        let pool = try QueuePool(poolSize: 1, dialect: MyDialect()) {
            try MyConnection(url: "postgresql://app@db.internal/main")
        }
        // snippet: lifecycle-disconnect
        do {
            try pool.withConnection { conn in try conn.connection.execute("SELECT 1") }
        } catch let error as MyError where error.isConnectionLost {
            // This connection is already replaced, and so is every connection opened before it:
            // retrying gets a new one.
            try pool.withConnection { conn in try conn.connection.execute("SELECT 1") }
        }
        // end snippet
        XCTAssertEqual(pool.checkedOut, 0)
    }

    func testProductionOptions() throws {
        // snippet: lifecycle-production
        var options = PoolOptions(prePing: true)
        options.minIdle = 2                          // two warm connections from the start
        options.idleTimeout = .seconds(300)          // shrink back after a peak
        options.keepAlive = .seconds(60)             // notice a dead database before a request does
        options.connectBackoff = ConnectBackoff()    // 100 ms, 200 ms, ... up to 10 s while it is down
        options.leakDetectionThreshold = .seconds(30)
        let server = try QueuePool(poolSize: 10, maxOverflow: 5, options: options, dialect: MyDialect()) {
            try MyConnection(url: "postgresql://app@db.internal/main")
        }
        // end snippet
        let pool = server
        // snippet: lifecycle-shutdown
        let stillOut = pool.shutdown(gracePeriod: .seconds(10))
        if stillOut > 0 {
            print("\(stillOut) connections were still checked out; each closes when it comes back")
        }
        // end snippet
        XCTAssertEqual(stillOut, 0)
        XCTAssertThrowsError(try pool.connect())
    }
}
