import XCTest
import Foundation
import DBPool
import DBPoolTesting

/// Statistics, leak detection, holders with their checkout sites, timeouts that say why,
/// and the keyed pool registry.
final class ObservabilityTests: XCTestCase {
    final class LogCapture: Sendable {
        let messages = Guarded<[PoolLogMessage]>([])
        var handler: PoolLogHandler {
            PoolLogHandler(level: .warning) { [messages] m in messages.update { $0.append(m) } }
        }
        var texts: [String] { messages.value.map(\.message) }
    }

    func testStatisticsCountCheckoutsWaitsTimeoutsAndClosesByReason() throws {
        let dbapi = MockDBAPI()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 1, timeout: .milliseconds(30), options: quietOptions,
            dialect: MockDialect(), creator: dbapi.creator())
        let a = try pool.connect()
        let b = try pool.connect()
        XCTAssertThrowsError(try pool.connect())  // waits 30 ms, times out
        var stats = pool.statistics
        XCTAssertEqual(stats.openConnections, 2)
        XCTAssertEqual(stats.inUse, 2)
        XCTAssertEqual(stats.idle, 0)
        XCTAssertEqual(stats.overflow, 1)
        XCTAssertEqual(stats.checkouts, 2)
        XCTAssertEqual(stats.waits, 1)
        XCTAssertEqual(stats.timeouts, 1)
        XCTAssertGreaterThanOrEqual(stats.maxWaitTime, .milliseconds(25))
        XCTAssertEqual(stats.totalWaitTime, stats.maxWaitTime)
        a.close()  // pooled
        b.close()  // the idle store is full: closed as overflow
        try pool.connect().invalidate()  // invalidated
        try pool.connect().close()  // reconnects the record
        pool.dispose()  // disposed
        dbapi.shutdown(true)
        XCTAssertThrowsError(try pool.connect())
        stats = pool.statistics
        XCTAssertEqual(stats.closes[.overflow], 1)
        XCTAssertEqual(stats.closes[.invalidated], 1)
        XCTAssertEqual(stats.closes[.disposed], 1)
        XCTAssertEqual(stats.connectionsCreated, 3)
        XCTAssertEqual(stats.connectFailures, 1)
        XCTAssertEqual(stats.lastConnectError as? MockError, MockError("connect failed"))
        XCTAssertEqual(stats.checkouts, 4, "a failed checkout is not counted")
        XCTAssertEqual(stats.openConnections, 0)
        XCTAssertTrue(stats.description.contains("closes=[overflow=1 invalidated=1 disposed=1]"), stats.description)
    }

    func testWaitedCheckoutsAreCountedWithTheirWait() throws {
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, timeout: .seconds(5), options: quietOptions,
            dialect: MockDialect(), creator: MockDBAPI().creator())
        let held = try pool.connect()
        let waiter = Harness.spawn { try? pool.connect().close() }
        XCTAssertTrue(Harness.eventually { pool.waiting == 1 })
        held.close()
        XCTAssertTrue(waiter.finished())
        let stats = pool.statistics
        XCTAssertEqual(stats.checkouts, 2)
        XCTAssertEqual(stats.waits, 1)
        XCTAssertEqual(stats.timeouts, 0)
        XCTAssertGreaterThan(stats.maxWaitTime, .zero)
    }

    func testOtherPoolKindsReportStatistics() throws {
        let dbapi = MockDBAPI()
        let null = try NullPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        try null.connect().close()
        XCTAssertEqual(null.statistics.connectionsCreated, 1)
        XCTAssertEqual(null.statistics.closes[.disposed], 1)
        let shared = try StaticPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        let fairy = try shared.connect()
        XCTAssertEqual(shared.statistics.inUse, 1)
        fairy.close()
        XCTAssertEqual(shared.statistics.idle, 1)
        let assertion = try AssertionPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        let held = try assertion.connect()
        XCTAssertEqual(assertion.statistics.inUse, 1)
        held.close()
        XCTAssertEqual(assertion.statistics.idle, 1)
        let perThread = try SingletonThreadPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        let mine = try perThread.connect()
        XCTAssertEqual(perThread.statistics.inUse, 1)
        mine.close()
        XCTAssertEqual(perThread.statistics.idle, 1)
    }

    /// Before: the checkout was counted when the record was popped, so a checkout whose
    /// reconnect failed still counted.
    func testAFailedCheckoutIsNotCounted() throws {
        let dbapi = MockDBAPI()
        let pool = try QueuePool(poolSize: 1, maxOverflow: 0, options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        let fairy = try pool.connect()
        fairy.invalidate()
        dbapi.failNextConnects(1)
        XCTAssertThrowsError(try pool.connect())
        XCTAssertEqual(pool.statistics.checkouts, 1, "only the first checkout succeeded")
        try pool.connect().close()
        XCTAssertEqual(pool.statistics.checkouts, 2)
        // A checkout listener that throws fails the checkout, too.
        pool.events.onCheckout { _, _, _ in throw MockError("listener says no") }
        XCTAssertThrowsError(try pool.connect())
        XCTAssertEqual(pool.statistics.checkouts, 2)
    }

    /// Before: an async checkout whose second look found an idle record was counted twice. With
    /// threads and tasks racing, successes and `checkouts` must agree exactly.
    func testEverySuccessfulCheckoutIsCountedOnceUnderContention() async throws {
        let pool = try QueuePool(
            poolSize: 2, maxOverflow: 0, timeout: nil, options: PoolOptions(logHandler: .disabled, driverThreads: .inline),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        let successes = Guarded(0)
        let threads = Harness.spawn {
            Harness.onThreads(4) { _ in
                for _ in 0..<500 {
                    if let fairy = try? pool.connect() { successes.update { $0 += 1 }; fairy.close() }
                }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    for _ in 0..<200 {
                        let fairy = try await pool.connect()
                        successes.update { $0 += 1 }
                        fairy.close()
                        await Task.yield()
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertTrue(threads.finished(within: 60))
        XCTAssertEqual(successes.value, 2_000 + 3_200)
        XCTAssertEqual(pool.statistics.checkouts, successes.value)
    }

    func testCheckedOutConnectionsListsHoldersWithSiteAndAge() throws {
        let clock = ManualClock()
        let pool = try QueuePool(
            poolSize: 3, maxOverflow: 0, options: PoolOptions(clock: clock, logHandler: .disabled),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        let first = try pool.connect(); let firstLine = #line
        clock.advance(by: .seconds(10))
        let second = try pool.connect(); let secondLine = #line
        clock.advance(by: .seconds(5))
        let holders = pool.checkedOutConnections()
        XCTAssertEqual(holders.map(\.site?.line), [UInt(firstLine), UInt(secondLine)], "longest held first")
        XCTAssertEqual(holders.map(\.age), [.seconds(15), .seconds(5)])
        XCTAssertEqual(holders.first?.site?.fileID.description, "DBPoolTests/ObservabilityTests.swift")
        first.close()
        XCTAssertEqual(pool.checkedOutConnections().count, 1)
        second.close()
        XCTAssertEqual(pool.checkedOutConnections().count, 0)
        try pool.withConnection { _ in
            XCTAssertEqual(pool.checkedOutConnections().first?.site?.line, UInt(#line - 1), "withConnection records its own call site")
        }
    }

    func testLeakIsReportedOnceWithItsCheckoutSite() throws {
        let clock = ManualClock()
        let log = LogCapture()
        let pool = try QueuePool(
            poolSize: 2, maxOverflow: 0,
            options: PoolOptions(clock: clock, logHandler: log.handler, leakDetectionThreshold: .seconds(30)),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        let leaked = try pool.connect(); let line = #line
        let returned = try pool.connect()
        clock.advance(by: .seconds(20))
        returned.close()
        // Not before the threshold, and once per checkout: MachineMaintenanceTests.testALeakIsReportedOnceWithItsSiteAndAge.
        clock.advance(by: .seconds(11))
        XCTAssertTrue(Harness.eventually { log.texts.count == 1 })
        let report = log.texts[0]
        XCTAssertTrue(report.contains("Possible connection leak"), report)
        XCTAssertTrue(report.contains("DBPoolTests/ObservabilityTests.swift:\(line)"), report)
        XCTAssertTrue(report.contains("31.0 seconds"), report)
        leaked.close()
    }

    func testTimeoutLogSaysWhetherThePoolIsExhaustedOrTheDatabaseIsDown() throws {
        func makePool(_ dbapi: MockDBAPI, _ log: LogCapture) throws -> QueuePool<MockConnection> {
            var options = PoolOptions(logHandler: log.handler)
            options.connectBackoff = ConnectBackoff(initial: .seconds(60), maximum: .seconds(60))
            return try QueuePool(
                poolSize: 1, maxOverflow: 0, timeout: .milliseconds(20), options: options,
                dialect: MockDialect(), creator: dbapi.creator())
        }
        // Exhausted: the one connection is held.
        let exhaustedLog = LogCapture()
        let exhausted = try makePool(MockDBAPI(), exhaustedLog)
        let held = try exhausted.connect()
        XCTAssertThrowsError(try exhausted.connect())
        XCTAssertTrue(exhaustedLog.texts.last?.contains("every connection is in use; 1 checked out, 0 still waiting") == true, "\(exhaustedLog.texts)")
        XCTAssertNil(exhaustedLog.messages.value.last?.error)
        held.close()
        // Down: nothing is held, the database refuses connections.
        let dbapi = MockDBAPI()
        dbapi.shutdown(true)
        let downLog = LogCapture()
        let down = try makePool(dbapi, downLog)
        XCTAssertThrowsError(try down.connect()) { XCTAssertEqual($0 as? MockError, MockError("connect failed")) }
        XCTAssertThrowsError(try down.connect()) { error in
            XCTAssertTrue("\(error)".hasPrefix("QueuePool limit of size 1 overflow -1 reached, connection timed out, timeout 0.02"), "\(error)")
        }
        let last = downLog.messages.value.last
        XCTAssertTrue(last?.message.contains("the database is refusing connections") == true, "\(downLog.texts)")
        XCTAssertEqual(last?.error as? MockError, MockError("connect failed"))
    }

    func testAFailedReconnectOfAnIdleRecordIsSeenAsTheDatabaseBeingDown() throws {
        let dbapi = MockDBAPI()
        let pool = try QueuePool(poolSize: 1, maxOverflow: 0, options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        try pool.connect().invalidate()
        dbapi.shutdown(true)
        XCTAssertThrowsError(try pool.connect())
        XCTAssertEqual(pool.statistics.consecutiveConnectFailures, 1)
        XCTAssertEqual(pool.statistics.lastConnectError as? MockError, MockError("connect failed"))
        dbapi.shutdown(false)
        try pool.connect().close()
        XCTAssertEqual(pool.statistics.consecutiveConnectFailures, 0)
    }

    // MARK: PoolRegistry

    func testRegistryCreatesOncePerKeyAndReuses() throws {
        let made = Guarded(0)
        let registry = PoolRegistry<String, QueuePool<MockConnection>> { key in
            made.update { $0 += 1 }
            return try QueuePool(
                poolSize: 1, maxOverflow: 0, options: PoolOptions(loggingName: key, logHandler: .disabled),
                dialect: MockDialect(), creator: MockDBAPI().creator())
        }
        let a = try registry.pool(for: "a")
        XCTAssertTrue(a === (try registry.pool(for: "a")))
        let b = try registry.pool(for: "b")
        XCTAssertFalse(a === b)
        XCTAssertEqual(made.value, 2)
        XCTAssertEqual(Set(registry.keys), ["a", "b"])
        XCTAssertEqual(b.options.loggingName, "b")
    }

    func testRegistryNeverCreatesTwiceUnderARace() throws {
        let made = Guarded(0)
        let registry = PoolRegistry<Int, NullPool<MockConnection>> { _ in
            made.update { $0 += 1 }
            usleep(5_000)  // widen the window in which others ask for the same key
            return try NullPool(options: quietOptions, dialect: MockDialect(), creator: MockDBAPI().creator())
        }
        let seen = Guarded<Set<ObjectIdentifier>>([])
        XCTAssertTrue(
            Harness.onThreads(16) { _ in
                if let pool = try? registry.pool(for: 7) { seen.update { _ = $0.insert(ObjectIdentifier(pool)) } }
            })
        XCTAssertEqual(made.value, 1)
        XCTAssertEqual(seen.value.count, 1)
    }

    func testRegistryFactoryErrorPropagatesAndTheNextCallRetries() throws {
        let attempts = Guarded(0)
        let registry = PoolRegistry<String, NullPool<MockConnection>> { _ in
            if attempts.update({
                $0 += 1; return $0
            }) == 1 {
                throw MockError("bad parameters")
            }
            return try NullPool(options: quietOptions, dialect: MockDialect(), creator: MockDBAPI().creator())
        }
        XCTAssertThrowsError(try registry.pool(for: "k")) { XCTAssertEqual($0 as? MockError, MockError("bad parameters")) }
        XCTAssertEqual(registry.keys, [])
        XCTAssertNoThrow(try registry.pool(for: "k"))
        XCTAssertEqual(attempts.value, 2)
    }

    func testRegistryDisposeForgetsAndDisposes() throws {
        let dbapi = MockDBAPI()
        let registry = PoolRegistry<String, QueuePool<MockConnection>> { _ in
            try QueuePool(poolSize: 2, maxOverflow: 0, options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        }
        let first = try registry.pool(for: "x")
        try first.connect().close()
        XCTAssertTrue(registry.dispose("x"))
        XCTAssertFalse(registry.dispose("x"))
        XCTAssertTrue(dbapi.connections[0].closed, "dispose closed the idle connection")
        let second = try registry.pool(for: "x")
        XCTAssertFalse(first === second)
        try second.connect().close()
        _ = try registry.pool(for: "y").connect().close()
        registry.disposeAll()
        XCTAssertEqual(registry.keys, [])
        XCTAssertTrue(dbapi.connections.allSatisfy(\.closed))
    }
}
