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
