// The code blocks of ErrorsAndBadInput.md.

import DBPool
import XCTest

final class ErrorsSnippetTests: XCTestCase {
    func testTimeoutDetail() throws {
        let pool = try QueuePool(poolSize: 1, maxOverflow: 0, timeout: .milliseconds(20)) {
            try MyConnection(url: "postgresql://app@db.internal/main")
        }
        let held = try pool.connect()
        defer { held.close() }
        // snippet: errors-timeout
        do {
            try pool.withConnection { conn in try conn.connection.execute("SELECT 1") }
        } catch let PoolError.timeout(size, overflow, _, detail) {
            if let cause = detail?.lastConnectError {
                print("database unreachable: \(cause)")
            } else {
                print("all \(size + overflow) connections busy; raise poolSize or find the slow holder")
            }
        }
        // end snippet
        XCTAssertEqual(pool.statistics.timeouts, 1)
    }
}
