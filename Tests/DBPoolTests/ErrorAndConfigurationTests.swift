import XCTest
import DBPool
import DBPoolTesting

/// PoolError messages (api.md) and configuration validation: bad values throw
/// PoolError.invalidArgument naming the parameter, the value and the accepted range; nothing is
/// clamped.
final class ErrorAndConfigurationTests: XCTestCase {
    // MARK: Messages

    // QP-05 message format: the timeout is printed in seconds with two decimals.
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

    // QP-05: a real timeout carries the pool's size, current overflow and timeout.
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

    // MARK: Validation

    func testQueuePoolNegativePoolSize() {
        assertInvalidArgument(
            try QueuePool(poolSize: -1, dialect: MockDialect(), creator: MockDBAPI().creator()),
            parameter: "poolSize", value: "-1", range: "between 0 and 1000000")
    }

    func testQueuePoolMaxOverflowBelowMinusOne() {
        assertInvalidArgument(
            try QueuePool(poolSize: 5, maxOverflow: -2, dialect: MockDialect(), creator: MockDBAPI().creator()),
            parameter: "maxOverflow", value: "-2", range: "between -1 and 1000000")
    }

    func testQueuePoolNegativeTimeout() {
        assertInvalidArgument(
            try QueuePool(timeout: .seconds(-1), dialect: MockDialect(), creator: MockDBAPI().creator()),
            parameter: "timeout", value: "-1", range: ">= 0")
    }

    // A negative recycle is rejected by every pool kind.
    func testNegativeRecycleRejectedByEveryPoolKind() {
        let options = PoolOptions(recycle: .seconds(-1))
        let creator = MockDBAPI().creator()
        assertInvalidArgument(
            try QueuePool(options: options, dialect: MockDialect(), creator: creator),
            parameter: "recycle", value: "-1", range: ">= 0", kind: "QueuePool")
        assertInvalidArgument(
            try NullPool(options: options, dialect: MockDialect(), creator: creator),
            parameter: "recycle", value: "-1", range: ">= 0", kind: "NullPool")
        assertInvalidArgument(
            try StaticPool(options: options, dialect: MockDialect(), creator: creator),
            parameter: "recycle", value: "-1", range: ">= 0", kind: "StaticPool")
        assertInvalidArgument(
            try SingletonThreadPool(options: options, dialect: MockDialect(), creator: creator),
            parameter: "recycle", value: "-1", range: ">= 0", kind: "SingletonThreadPool")
        assertInvalidArgument(
            try AssertionPool(options: options, dialect: MockDialect(), creator: creator),
            parameter: "recycle", value: "-1", range: ">= 0", kind: "AssertionPool")
        // The DefaultDialect initialisers validate too.
        assertInvalidArgument(
            try QueuePool(options: options, creator: creator),
            parameter: "recycle", value: "-1", range: ">= 0", kind: "QueuePool(DefaultDialect)")
        assertInvalidArgument(
            try NullPool(options: options, creator: creator),
            parameter: "recycle", value: "-1", range: ">= 0", kind: "NullPool(DefaultDialect)")
    }

    func testSingletonThreadPoolSizeZero() {
        assertInvalidArgument(
            try SingletonThreadPool(poolSize: 0, dialect: MockDialect(), creator: MockDBAPI().creator()),
            parameter: "poolSize", value: "0", range: "between 1 and 1000000")
        assertInvalidArgument(
            try SingletonThreadPool(poolSize: -3, dialect: MockDialect(), creator: MockDBAPI().creator()),
            parameter: "poolSize", value: "-3", range: "between 1 and 1000000")
    }

    // A rejected configuration never connects.
    func testRejectedConfigurationDoesNotConnect() {
        let dbapi = MockDBAPI()
        XCTAssertThrowsError(try QueuePool(poolSize: -1, dialect: MockDialect(), creator: dbapi.creator()))
        XCTAssertThrowsError(try StaticPool(options: PoolOptions(recycle: .seconds(-5)), dialect: MockDialect(), creator: dbapi.creator()))
        XCTAssertEqual(dbapi.connectCount, 0)
    }

    // The edges of each accepted range are accepted, and nothing is clamped.
    func testBoundaryValuesAreAccepted() throws {
        let creator = MockDBAPI().creator()
        let unlimited = try QueuePool(poolSize: 0, maxOverflow: -1, timeout: .zero, dialect: MockDialect(), creator: creator)
        XCTAssertEqual(unlimited.size, 0)
        XCTAssertEqual(unlimited.maxOverflow, -1)
        XCTAssertEqual(unlimited.timeout, .zero)
        let forever = try QueuePool(poolSize: 1, maxOverflow: 0, timeout: nil, dialect: MockDialect(), creator: creator)
        XCTAssertNil(forever.timeout)
        XCTAssertEqual(forever.maxOverflow, 0)
        let zeroRecycle = PoolOptions(recycle: .zero)
        XCTAssertNoThrow(try QueuePool(options: zeroRecycle, dialect: MockDialect(), creator: creator))
        XCTAssertNoThrow(try NullPool(options: zeroRecycle, dialect: MockDialect(), creator: creator))
        XCTAssertNoThrow(try StaticPool(options: zeroRecycle, dialect: MockDialect(), creator: creator))
        XCTAssertNoThrow(try SingletonThreadPool(poolSize: 1, options: zeroRecycle, dialect: MockDialect(), creator: creator))
        XCTAssertNoThrow(try AssertionPool(options: zeroRecycle, dialect: MockDialect(), creator: creator))
        let subsecond = try QueuePool(timeout: .milliseconds(500), dialect: MockDialect(), creator: creator)
        XCTAssertEqual(subsecond.timeout, .milliseconds(500), "a subsecond timeout must be kept exactly")
    }

    // MARK: Helper

    private func assertInvalidArgument<T>(
        _ expression: @autoclosure () throws -> T, parameter: String, value: String, range: String, kind: String = "",
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try expression(), kind, file: file, line: line) { error in
            guard case let .invalidArgument(message)? = error as? PoolError else {
                return XCTFail("\(kind): expected PoolError.invalidArgument, got \(error)", file: file, line: line)
            }
            XCTAssertTrue(message.contains(parameter), "\(kind): message must name \(parameter): \(message)", file: file, line: line)
            XCTAssertTrue(containsNumber(message, value), "\(kind): message must give the value \(value): \(message)", file: file, line: line)
            XCTAssertTrue(message.contains(range), "\(kind): message must give the range \(range): \(message)", file: file, line: line)
            XCTAssertEqual((error as? PoolError)?.description, message, file: file, line: line)
        }
    }

    /// Whether `text` contains `number` as a whole number (not as part of a longer one).
    private func containsNumber(_ text: String, _ number: String) -> Bool {
        let characters = Array(text)
        let target = Array(number)
        guard characters.count >= target.count else { return false }
        for start in 0...(characters.count - target.count) where Array(characters[start..<start + target.count]) == target {
            let before = start > 0 ? characters[start - 1] : " "
            let afterIndex = start + target.count
            let after = afterIndex < characters.count ? characters[afterIndex] : " "
            let beforeOK = !before.isNumber && (target.first == "-" || before != "-")
            // "-1.0 seconds" is the value -1 written as a Duration.
            let afterOK = !after.isNumber
            if beforeOK && afterOK { return true }
        }
        return false
    }
}
