// The code blocks of the DBPoolTesting catalog. The example test class is a real test here.

import DBPool
import DBPoolTesting
import XCTest

// snippet: testing-recycle
//! import XCTest
//! import DBPool
//! import DBPoolTesting

final class MyTests: XCTestCase {
    func testRecycle() throws {
        let clock = ManualClock()
        let dbapi = MockDBAPI()
        let pool = try QueuePool(poolSize: 1, maxOverflow: 0, options: PoolOptions(recycle: .seconds(30), clock: clock),
                                 dialect: MockDialect(), creator: dbapi.creator())
        try pool.connect().close()
        clock.advance(by: .seconds(31))
        try pool.connect().close()
        XCTAssertEqual(dbapi.connections.count, 2)
    }
}
// end snippet

final class MockAsyncDialectSnippetTests: XCTestCase {
    func testMockAsyncDialect() async throws {
        let log = MockCallLog()
        let dbapi = MockDBAPI()
        // snippet: testing-mock-async-dialect
        let pool = try await QueuePool(dialect: MockAsyncDialect(log: log), creator: dbapi.asyncCreator())
        // end snippet
        try await pool.withConnection { _ in }
        XCTAssertEqual(dbapi.connections.count, 1)
    }
}
