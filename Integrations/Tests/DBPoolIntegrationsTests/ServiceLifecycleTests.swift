import DBPool
import DBPoolServiceLifecycle
import DBPoolTesting
import Logging
import ServiceLifecycle
import Synchronization
import XCTest

final class ServiceLifecycleTests: XCTestCase {
    private let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    func testGracefulShutdownOfTheGroupShutsThePoolDown() async throws {
        let dbapi = MockDBAPI()
        let pool = try await QueuePool(
            options: PoolOptions(logHandler: .disabled, minIdle: 2),
            dialect: MockAsyncDialect(), creator: dbapi.asyncCreator())
        let reported = Mutex<Int?>(nil)
        let service = try PoolService(pool, gracePeriod: .seconds(5)) { count in reported.withLock { $0 = count } }
        let group = ServiceGroup(services: [service], logger: logger)
        let running = Task { try await group.run() }
        // The pool serves while the group runs.
        try await pool.withConnection { XCTAssertNotNil($0.dbapiConnection) }
        XCTAssertFalse(pool.isShutDown)
        await group.triggerGracefulShutdown()
        try await running.value
        XCTAssertTrue(pool.isShutDown)
        XCTAssertEqual(reported.withLock { $0 }, 0)
        XCTAssertEqual(dbapi.openConnections.count, 0)
    }

    func testCancellationEndsTheServicePromptlyEvenWithAConnectionOut() async throws {
        let pool = try QueuePool(options: PoolOptions(logHandler: .disabled), dialect: MockDialect(), creator: MockDBAPI().creator())
        let held = try await pool.connect()
        let reported = Mutex<Int?>(nil)
        let service = try PoolService(pool, gracePeriod: .seconds(60)) { count in reported.withLock { $0 = count } }
        let running = Task { try await service.run() }
        try await Task.sleep(for: .milliseconds(5))
        let start = ContinuousClock.now
        running.cancel()
        try await running.value
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2), "did not wait out the 60 s grace period")
        XCTAssertTrue(pool.isShutDown)
        XCTAssertEqual(reported.withLock { $0 }, 1, "the connection still out is reported")
        await held.closeAndWait()
        XCTAssertEqual(pool.statistics.openConnections, 0, "closed when it came back")
    }

    func testANegativeGracePeriodIsRefused() throws {
        let pool = try NullPool(options: PoolOptions(logHandler: .disabled), dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertThrowsError(try PoolService(pool, gracePeriod: .seconds(-1))) { error in
            XCTAssertEqual("\(error)".contains("gracePeriod must be a duration >= 0 seconds; got -1.0 seconds"), true, "\(error)")
        }
    }
}
