import DBPool
import DBPoolTesting
import XCTest

/// What the pools check when they are made: each bad parameter or option throws
/// PoolError.invalidArgument naming it, the value and the accepted range (nothing is clamped), and
/// no rejected pool ever calls its creator. (Values past the far ends of the ranges:
/// HugeValueTests; driverThreads: DriverThreadsTests.)
final class ConfigurationValidationTests: XCTestCase {
    // MARK: Pool parameters and recycle

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

    // A negative recycle is rejected by every pool kind, including the DefaultDialect initialisers.
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

    // A rejected configuration never connects: the creator is not called for any rejected value.
    func testRejectedConfigurationDoesNotConnect() {
        let dbapi = MockDBAPI()
        let badRecycle = PoolOptions(recycle: .seconds(-5))
        XCTAssertThrowsError(try QueuePool(poolSize: -1, dialect: MockDialect(), creator: dbapi.creator()))
        XCTAssertThrowsError(try QueuePool(maxOverflow: -2, dialect: MockDialect(), creator: dbapi.creator()))
        XCTAssertThrowsError(try QueuePool(timeout: .seconds(-1), dialect: MockDialect(), creator: dbapi.creator()))
        XCTAssertThrowsError(try SingletonThreadPool(poolSize: 0, dialect: MockDialect(), creator: dbapi.creator()))
        XCTAssertThrowsError(try QueuePool(options: badRecycle, dialect: MockDialect(), creator: dbapi.creator()))
        XCTAssertThrowsError(try NullPool(options: badRecycle, dialect: MockDialect(), creator: dbapi.creator()))
        XCTAssertThrowsError(try StaticPool(options: badRecycle, dialect: MockDialect(), creator: dbapi.creator()))
        XCTAssertThrowsError(try AssertionPool(options: badRecycle, dialect: MockDialect(), creator: dbapi.creator()))
        XCTAssertThrowsError(try SingletonThreadPool(options: badRecycle, dialect: MockDialect(), creator: dbapi.creator()))
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

    // MARK: Lifecycle options

    // The lifecycle options are checked when the pool is made: each bad value throws
    // PoolError.invalidArgument naming the option, the value and the accepted range, and a
    // QueuePool-only option on another kind says so. No rejected pool connects.
    func testLifecycleOptionsAreValidated() {
        let dbapi = MockDBAPI()
        func message(_ configure: (inout PoolOptions) -> Void, poolSize: Int = 4) -> String? {
            do {
                _ = try lifecyclePool(poolSize, dbapi: dbapi, configure: configure)
                return nil
            } catch let PoolError.invalidArgument(message) {
                return message
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(message({ $0.minIdle = 5 }), "minIdle must be between 0 and poolSize (4); got 5")
        XCTAssertEqual(message({ $0.minIdle = -1 }), "minIdle must be between 0 and 1000000; got -1")
        XCTAssertEqual(message({ $0.maxConnecting = 0 }), "maxConnecting must be >= 1; got 0")
        XCTAssertEqual(message({ $0.recycleJitter = 0.6 }), "recycleJitter must be between 0 and 0.5 (a fraction of recycle); got 0.6")
        XCTAssertEqual(message({ $0.maxUsage = 0 }), "maxUsage must be nil (unlimited) or >= 1; got 0")
        XCTAssertEqual(message({ $0.idleTimeout = .zero }), "idleTimeout must be nil (off) or a duration > 0 seconds; got 0.0 seconds")
        XCTAssertEqual(message({ $0.keepAlive = .seconds(-1) }), "keepAlive must be nil (off) or a duration > 0 seconds; got -1.0 seconds")
        XCTAssertEqual(message({ $0.connectBackoff = ConnectBackoff(initial: .zero) }), "connectBackoff.initial must be > 0 seconds; got 0.0 seconds")
        XCTAssertEqual(message({ $0.connectBackoff = ConnectBackoff(jitter: 2) }), "connectBackoff.jitter must be between 0 and 1; got 2.0")
        XCTAssertThrowsError(try NullPool(options: PoolOptions(minIdle: 1), dialect: MockDialect(), creator: MockDBAPI().creator())) { error in
            XCTAssertEqual((error as? PoolError)?.description, "minIdle applies to QueuePool only; leave it at its default for this pool kind")
        }
        XCTAssertEqual(
            message({ $0.overtakeWindow = .milliseconds(-1) }),
            "overtakeWindow must be a duration >= 0 seconds (0 is strict first-come, first-served); got -0.001 seconds")
        XCTAssertNil(message({ $0.overtakeWindow = .zero }), "zero is strict FIFO, a valid choice")
        XCTAssertThrowsError(try StaticPool(options: PoolOptions(overtakeWindow: .zero), dialect: MockDialect(), creator: MockDBAPI().creator())) { error in
            XCTAssertEqual((error as? PoolError)?.description, "overtakeWindow applies to QueuePool only; leave it at its default for this pool kind")
        }
        XCTAssertEqual(dbapi.connectCount, 0, "a rejected pool never connects")
    }

    /// keepAlive over a dialect that cannot ping would close and reopen every healthy idle
    /// connection each interval; the pool refuses it at construction, and accepts it over a
    /// dialect that pings.
    func testKeepAliveWithADialectThatCannotPingIsRejected() throws {
        XCTAssertFalse(DefaultDialect<MockConnection>().supportsPing)
        XCTAssertTrue(MockDialect().supportsPing)
        let dbapi = MockDBAPI()
        XCTAssertThrowsError(
            try QueuePool(
                options: PoolOptions(logHandler: .disabled, keepAlive: .seconds(30)),
                creator: dbapi.creator())
        ) { error in
            guard case let .invalidArgument(message)? = error as? PoolError else {
                return XCTFail("expected invalidArgument, got \(error)")
            }
            XCTAssertTrue(message.contains("keepAlive"), message)
            XCTAssertTrue(message.contains("ping"), message)
        }
        XCTAssertEqual(dbapi.connectCount, 0)
        // The same option over a dialect that pings is accepted.
        let pool = try QueuePool(
            options: PoolOptions(logHandler: .disabled, keepAlive: .seconds(30)),
            dialect: MockDialect(), creator: dbapi.creator())
        try pool.connect().close()
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
