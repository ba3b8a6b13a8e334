import XCTest
import Dispatch
@testable import DBPool
import DBPoolTesting

/// Values at the far end of the accepted ranges. Each either is rejected
/// when the pool is made (sizes, with a documented bound) or works without trapping later
/// (durations and backoff factors, which saturate). Before the fix each of these stopped the
/// test process with an arithmetic or conversion trap, so a regression fails loudly.
final class HugeValueTests: XCTestCase {
    private struct Refused: Error {}

    private func invalidArgument(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let PoolError.invalidArgument(message) {
            return message
        } catch {
            return "unexpected error: \(error)"
        }
    }

    private func queuePool(
        _ size: Int, _ overflow: Int, timeout: Duration? = .seconds(5), options: PoolOptions = quietOptions,
        creator: @escaping @Sendable () throws -> MockConnection = MockDBAPI().creator()
    ) throws -> QueuePool<MockConnection> {
        try QueuePool(poolSize: size, maxOverflow: overflow, timeout: timeout, options: options, dialect: MockDialect(), creator: creator)
    }

    // MARK: Item 1: sizes

    func testPoolSizesAboveTheLimitAreRejectedNamingTheLargestAcceptedValue() {
        XCTAssertEqual(
            invalidArgument { _ = try queuePool(5, .max) },
            "maxOverflow must be between -1 and 1000000 (-1 means unlimited); got \(Int.max)")
        XCTAssertEqual(
            invalidArgument { _ = try queuePool(.max, 10) },
            "poolSize must be between 0 and 1000000 (0 means unlimited); got \(Int.max)")
        XCTAssertEqual(
            invalidArgument { _ = try queuePool(1_000_001, 0) },
            "poolSize must be between 0 and 1000000 (0 means unlimited); got 1000001")
        XCTAssertEqual(
            invalidArgument { _ = try queuePool(5, 1_000_001) },
            "maxOverflow must be between -1 and 1000000 (-1 means unlimited); got 1000001")
        XCTAssertEqual(
            invalidArgument { _ = try SingletonThreadPool(poolSize: .max, options: quietOptions, dialect: MockDialect(), creator: MockDBAPI().creator()) },
            "poolSize must be between 1 and 1000000 (the number of threads to keep connections for); got \(Int.max)")
        // With poolSize 0 (unlimited) minIdle has no poolSize to stay under; the same bound applies.
        XCTAssertEqual(
            invalidArgument { _ = try queuePool(0, -1, options: PoolOptions(logHandler: .disabled, minIdle: .max)) },
            "minIdle must be between 0 and 1000000; got \(Int.max)")
    }

    func testTheLargestAcceptedSizesCheckOutWithoutTrapping() throws {
        for (size, overflow) in [(1_000_000, 1_000_000), (5, 1_000_000), (1_000_000, 10), (1_000_000, -1)] {
            let pool = try queuePool(size, overflow)
            let fairy = try pool.connect()
            XCTAssertEqual(pool.checkedOut, 1, "poolSize \(size), maxOverflow \(overflow)")
            fairy.close()
            XCTAssertEqual(pool.checkedIn, 1)
        }
        let singleton = try SingletonThreadPool(poolSize: 1_000_000, options: quietOptions, dialect: MockDialect(), creator: MockDBAPI().creator())
        try singleton.connect().close()
    }

    // MARK: Item 2: ConnectBackoff

    func testHugeBackoffDurationsDoNotTrapOnTheFirstFailedConnect() throws {
        let clock = ManualClock()
        let backoff = ConnectBackoff(initial: .seconds(10_000_000_000), maximum: .seconds(10_000_000_000))
        let pool = try queuePool(2, 0, timeout: .zero, options: PoolOptions(clock: clock, logHandler: .disabled, connectBackoff: backoff)) { throw Refused() }
        defer { pool.dispose() }
        XCTAssertThrowsError(try pool.connect()) { XCTAssertTrue($0 is Refused, "\($0)") }
        // The backoff is in force (about 317 years, saturated rather than wrapped into the past):
        // the next checkout times out instead of connecting again.
        clock.advance(by: .seconds(3600))
        XCTAssertThrowsError(try pool.connect()) { error in
            guard case PoolError.timeout? = error as? PoolError else { return XCTFail("expected a timeout, got \(error)") }
        }
    }

    func testHugeBackoffMultiplierDoesNotTrapOnARetry() throws {
        let clock = ManualClock()
        let backoff = ConnectBackoff(maximum: .seconds(Int64.max), multiplier: 1e12)
        let pool = try queuePool(2, 0, timeout: .zero, options: PoolOptions(clock: clock, logHandler: .disabled, connectBackoff: backoff)) { throw Refused() }
        defer { pool.dispose() }
        XCTAssertThrowsError(try pool.connect()) { XCTAssertTrue($0 is Refused, "\($0)") }
        // Past the first wait (at most 100 ms): the retry fails again, and its wait is 1e11 s.
        clock.advance(by: .seconds(1))
        XCTAssertThrowsError(try pool.connect()) { XCTAssertTrue($0 is Refused, "\($0)") }
    }

    func testBackoffDelayStaysWithinItsBoundsForEveryAcceptedValue() throws {
        let extremes = [
            ConnectBackoff(initial: .seconds(10_000_000_000), maximum: .seconds(10_000_000_000)),
            ConnectBackoff(maximum: .seconds(Int64.max), multiplier: 1e12),
            ConnectBackoff(initial: .seconds(Int64.max), maximum: .seconds(Int64.max), multiplier: .greatestFiniteMagnitude, jitter: 1),
            ConnectBackoff(initial: .nanoseconds(1), maximum: .seconds(Int64.max), multiplier: 1)
        ]
        for backoff in extremes {
            try backoff.validate()
            for failures in [1, 2, 3, 64, 10_000] {
                for random in [0.0, 0.5, 0.999] {
                    let delay = backoff.delay(afterFailures: failures, random: random)
                    XCTAssertLessThanOrEqual(delay, backoff.maximum, "\(backoff), \(failures) failures")
                    XCTAssertGreaterThanOrEqual(delay, .zero, "\(backoff), \(failures) failures")
                }
            }
        }
        // Unchanged for ordinary values: 100 ms doubling, capped at 10 s.
        let ordinary = ConnectBackoff()
        XCTAssertEqual(ordinary.delay(afterFailures: 1, random: 0), .milliseconds(100))
        XCTAssertEqual(ordinary.delay(afterFailures: 3, random: 0), .milliseconds(400))
        XCTAssertEqual(ordinary.delay(afterFailures: 20, random: 0), .seconds(10))
        XCTAssertEqual(ordinary.delay(afterFailures: 1, random: 1), .milliseconds(80))
    }

    // MARK: Item 2: other durations

    func testHugeLifecycleDurationsAreAcceptedAndNeverTrap() throws {
        let clock = ManualClock()
        let forever = Duration.seconds(Int64.max)
        let options = PoolOptions(
            recycle: forever, clock: clock, logHandler: .disabled, recycleJitter: 0.5,
            idleTimeout: forever, keepAlive: forever, leakDetectionThreshold: forever, overtakeWindow: forever)
        let pool = try queuePool(2, 1, timeout: forever, options: options)
        defer { pool.dispose() }
        for _ in 0..<3 {
            let fairies = try (0..<3).map { _ in try pool.connect() }
            clock.advance(by: .seconds(86_400 * 365))
            fairies.forEach { $0.close() }
        }
        XCTAssertEqual(pool.checkedIn, 2)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    /// The maintenance tick's next due time, an instant past the pool's time base by more than
    /// `Int64.max` seconds (an idle timeout of `Int64.max` seconds on a clock that has moved on),
    /// became a stamp through `Duration.components`, which traps. Before the fix this stopped the
    /// process whenever the maintenance thread ticked at such a moment (it once did in CI); here
    /// the tick runs at that moment on purpose.
    func testAMaintenanceTickPastAHugeIdleTimeoutDoesNotTrap() throws {
        let clock = ManualClock()
        let forever = Duration.seconds(Int64.max)
        let options = PoolOptions(clock: clock, logHandler: .disabled, idleTimeout: forever, keepAlive: forever)
        let pool = try queuePool(1, 0, options: options)
        defer { pool.dispose() }
        clock.advance(by: .seconds(86_400 * 365))
        try pool.connect().close()
        _ = pool.performMaintenance()
        XCTAssertEqual(pool.checkedIn, 1, "the idle connection stays: its timeout is ~292 billion years away")
    }

    /// Durations longer than `Int64.max` seconds (a `Duration` holds up to about 1.7e20 s) in
    /// every duration a pool accepts: the pool is made, used, maintained and described without
    /// trapping.
    func testDurationsBeyondInt64SecondsNeverTrap() throws {
        let beyond = Duration.seconds(Int64.max) * 4
        let clock = ManualClock()
        let options = PoolOptions(
            recycle: beyond, clock: clock, logHandler: .disabled, idleTimeout: beyond, keepAlive: beyond,
            connectBackoff: ConnectBackoff(initial: beyond, maximum: beyond, multiplier: 2, jitter: 0),
            leakDetectionThreshold: beyond, overtakeWindow: beyond)
        let dbapi = MockDBAPI()
        let pool = try queuePool(1, 0, timeout: beyond, options: options, creator: dbapi.creator())
        defer { pool.dispose() }
        clock.advance(by: .seconds(86_400 * 365))
        dbapi.failNextConnects(1)
        XCTAssertThrowsError(try pool.connect(), "a failed connect starts the backoff")
        clock.advance(by: beyond)
        let fairy = try pool.connect()
        _ = pool.performMaintenance()
        fairy.close()
        _ = pool.performMaintenance()
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertFalse(pool.statistics.description.isEmpty)
        XCTAssertEqual(formatSeconds(beyond), "3.6893488147419103e+19")
        // The one bounded duration refuses it with a clear error rather than trapping.
        XCTAssertThrowsError(try DriverExecutor(maximumThreads: 1, idleThreadLifetime: beyond)) { error in
            guard case PoolError.invalidArgument(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("idleThreadLifetime"), message)
        }
    }

    func testNanosecondsSaturateForDurationsBeyondInt64Seconds() {
        let beyond = Duration.seconds(Int64.max) + .seconds(Int64.max)
        XCTAssertEqual(Timestamper.nanoseconds(in: beyond), .max)
        XCTAssertEqual(Timestamper.nanoseconds(in: .zero - beyond), .min)
        XCTAssertEqual(Timestamper.nanoseconds(in: .seconds(Int64.max)), .max)
        XCTAssertEqual(Timestamper.nanoseconds(in: .milliseconds(1_500)), 1_500_000_000)
        XCTAssertEqual(Timestamper.nanoseconds(in: .milliseconds(-1_500)), -1_500_000_000)
    }

    func testAHugeTimeoutStillWaitsForAReturnedConnection() throws {
        let pool = try queuePool(1, 0, timeout: .seconds(Int64.max))
        let held = try pool.connect()
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(10)) { held.close() }
        try pool.connect().close()
        XCTAssertEqual(pool.checkedIn, 1)
    }

    func testTimeoutMessageFormatsTheLongestDurations() {
        XCTAssertEqual(formatSeconds(.seconds(Int64.max)), "9223372036854775807.00")
        XCTAssertEqual(formatSeconds(Duration(secondsComponent: Int64.max, attosecondsComponent: 999_999_999_999_999_999)), "9223372036854775808.00")
        XCTAssertEqual(formatSeconds(.seconds(Int64.min)), "-9223372036854775808.00")
        XCTAssertEqual(formatSeconds(.milliseconds(1_234)), "1.23")
        XCTAssertEqual(formatSeconds(.zero), "0.00")
    }
}
