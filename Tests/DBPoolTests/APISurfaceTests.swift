import XCTest
import DBPool
import DBPoolTesting

// Compile-time regression check: an internal declaration whose inferred type goes through
// `QueuePool<X>.Connection` must compile in client code. It stopped compiling once when an
// internal protocol visible to inlinable code also declared an associated type `Connection`.
let checkoutThroughInferredType = { @Sendable (pool: QueuePool<MockConnection>) throws in try pool.connect() }

/// The public surface, used the way a client writes it: the protocol and type names compile and
/// work together, and SQLAlchemy's names are the same types.
final class APISurfaceTests: XCTestCase {
    func testContractShapesCompileAndWork() throws {
        let pool = try QueuePool(poolSize: 1, maxOverflow: 0, options: quietOptions, dialect: MockDialect(), creator: MockDBAPI().creator())
        let fairy = try checkoutThroughInferredType(pool)
        XCTAssertTrue(fairy.isValid)
        fairy.close()
        // A DBAPIConnection type needs no dialect.
        let plain = try QueuePool(options: quietOptions) { MockConnection() }
        try plain.withConnection { XCTAssertTrue($0.isValid) }
        let genericPool: any Pool<MockConnection> = pool
        let viaExistential = try genericPool.connect()
        XCTAssertEqual(pool.checkedOut, 1)
        viaExistential.close()
        XCTAssertEqual(pool.checkedIn, 1)
    }
}

extension APISurfaceTests {
    /// SQLAlchemy 2's public names reach the same types.
    func testSQLAlchemyTwoNamesAreTheSameTypes() throws {
        let pool = try QueuePool(options: quietOptions) { MockConnection() }
        let proxied: PoolProxiedConnection<MockConnection> = try pool.connect()
        let entry: ConnectionPoolEntry<MockConnection>? = proxied.record
        XCTAssertNotNil(entry)
        XCTAssertTrue(type(of: proxied) == ConnectionFairy<MockConnection>.self)
        proxied.close()
    }
}
