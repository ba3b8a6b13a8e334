import XCTest
import DBPool
import DBPoolTesting

/// PoolError: the text of each error, and the figures and the cause a real timeout carries.
final class PoolErrorTests: XCTestCase {
    // The timeout message is SQLAlchemy's sentence, with the timeout in seconds to two decimals.
    func testTimeoutDescription() {
        XCTAssertEqual(
            PoolError.timeout(size: 3, overflow: 0, timeout: .seconds(2)).description,
            "QueuePool limit of size 3 overflow 0 reached, connection timed out, timeout 2.00")
        XCTAssertEqual(
            PoolError.timeout(size: 3, overflow: 0, timeout: .milliseconds(500)).description,
            "QueuePool limit of size 3 overflow 0 reached, connection timed out, timeout 0.50")
        XCTAssertEqual(
            PoolError.timeout(size: 5, overflow: 10, timeout: .seconds(30)).description,
            "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00")
        XCTAssertEqual(
            PoolError.timeout(size: 1, overflow: 2, timeout: .milliseconds(1500)).description,
            "QueuePool limit of size 1 overflow 2 reached, connection timed out, timeout 1.50")
        XCTAssertEqual(
            PoolError.timeout(size: 1, overflow: 0, timeout: .milliseconds(50)).description,
            "QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 0.05")
        XCTAssertEqual(
            PoolError.timeout(size: 0, overflow: -1, timeout: .zero).description,
            "QueuePool limit of size 0 overflow -1 reached, connection timed out, timeout 0.00")
    }

    func testOtherDescriptions() {
        XCTAssertEqual(PoolError.connectionClosed.description, "This connection is closed")
        XCTAssertEqual(PoolError.alreadyCheckedOut(location: nil).description, "connection is already checked out")
        XCTAssertEqual(
            PoolError.alreadyCheckedOut(location: "DBPoolTests/Foo.swift:12").description,
            "connection is already checked out at:\nDBPoolTests/Foo.swift:12")
        XCTAssertEqual(PoolError.notCheckedOut.description, "connection is not checked out")
        XCTAssertEqual(PoolError.invalidArgument("poolSize must be >= 0; got -1").description, "poolSize must be >= 0; got -1")
        XCTAssertEqual(
            PoolError.pingNotSupported.description,
            "The ping feature requires that a dialect is passed to the connection pool.")
        XCTAssertEqual(PoolError.unsupported("no async here").description, "no async here")
        // String interpolation uses the same text.
        XCTAssertEqual("\(PoolError.connectionClosed)", "This connection is closed")
    }

    // A real timeout carries the pool's size, current overflow and timeout, and says that every
    // connection is in use.
    func testRealTimeoutCarriesPoolFigures() throws {
        let pool = try QueuePool(poolSize: 1, maxOverflow: 1, timeout: .milliseconds(50), dialect: MockDialect(), creator: MockDBAPI().creator())
        let a = try pool.connect(), b = try pool.connect()
        defer { a.close(); b.close() }
        XCTAssertThrowsError(try pool.connect()) { error in
            guard case let .timeout(size, overflow, timeout, _)? = error as? PoolError else {
                return XCTFail("expected PoolError.timeout, got \(error)")
            }
            XCTAssertEqual(size, 1)
            XCTAssertEqual(overflow, 1)
            XCTAssertEqual(timeout, .milliseconds(50))
            // SQLAlchemy's sentence, then the state: both connections out, nobody else waiting.
            XCTAssertEqual(
                (error as? PoolError)?.description,
                "QueuePool limit of size 1 overflow 1 reached, connection timed out, timeout 0.05 (checked out 2, idle 0, waiting 0, connecting 0; every connection is in use)")
        }
    }

    /// The timeout says why: while connects are failing, its detail carries the last connect
    /// error, and the message says the database is refusing connections.
    func testATimeoutWhileConnectsFailCarriesTheLastConnectError() throws {
        let dbapi = MockDBAPI()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, timeout: .milliseconds(30),
            options: PoolOptions(logHandler: .disabled, connectBackoff: ConnectBackoff()),
            dialect: MockDialect(), creator: dbapi.creator())
        dbapi.failNextConnects(1_000, with: MockError("connection refused"))
        XCTAssertThrowsError(try pool.connect()) { XCTAssertTrue($0 is MockError, "the first attempt gets the creator's error") }
        XCTAssertThrowsError(try pool.connect()) { error in
            guard case let .timeout(_, _, _, detail)? = error as? PoolError, let detail else {
                return XCTFail("expected a timeout with detail, got \(error)")
            }
            XCTAssertEqual([detail.checkedOut, detail.idle, detail.waiting], [0, 0, 0])
            XCTAssertTrue(detail.lastConnectError is MockError)
            XCTAssertTrue("\(error)".hasSuffix("; the database is refusing connections: \(MockError("connection refused")))"), "\(error)")
        }
    }
}
