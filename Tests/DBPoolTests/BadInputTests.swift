import XCTest
import Foundation
import DBPool
import DBPoolTesting

/// One test per row of the bad-input table in docs/bad-input.md (issue 5): what the user gets
/// (a clear error or a logged message) and what is guaranteed (nothing leaked: every driver
/// connection closed exactly once or still pooled; counters true).
final class BadInputTests: XCTestCase {
    /// Captures every log message of a pool, at every level.
    final class LogCapture: Sendable {
        private let messages = Guarded<[PoolLogMessage]>([])
        var handler: PoolLogHandler { PoolLogHandler(level: .debug) { [messages] m in messages.update { $0.append(m) } } }
        var options: PoolOptions { PoolOptions(logHandler: handler) }
        func texts(_ level: PoolLogLevel) -> [String] { messages.value.filter { $0.level == level }.map(\.message) }
        func contains(_ level: PoolLogLevel, _ text: String) -> Bool { texts(level).contains { $0.contains(text) } }
        func clear() { messages.update { $0.removeAll() } }
    }

    /// Every connection the driver opened is closed exactly once, except `pooled` still open.
    private func assertNothingLeaked(_ dbapi: MockDBAPI, pooled: Int, _ context: String = "", file: StaticString = #filePath, line: UInt = #line) {
        let connections = dbapi.connections
        XCTAssertEqual(connections.filter { $0.closeCount > 1 }.map(\.description), [], "closed more than once \(context)", file: file, line: line)
        XCTAssertEqual(connections.filter { !$0.closed }.count, pooled, "connections still open \(context)", file: file, line: line)
    }

    private func assertCounters(_ pool: QueuePool<MockConnection>, checkedIn: Int, checkedOut: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(pool.checkedIn, checkedIn, "checkedIn; \(pool.status())", file: file, line: line)
        XCTAssertEqual(pool.checkedOut, checkedOut, "checkedOut; \(pool.status())", file: file, line: line)
        XCTAssertEqual(pool.overflow, checkedIn + checkedOut - pool.size, "overflow; \(pool.status())", file: file, line: line)
        XCTAssertEqual(pool.waiting, 0, file: file, line: line)
    }

    // MARK: Row 5: returning to a disposed pool

    func testReturningToADisposedPoolIsSafeForEveryKind() throws {
        let dialect = MockDialect()
        // QueuePool: the connection out during dispose is pooled normally when it comes back.
        do {
            let dbapi = MockDBAPI()
            let pool = try QueuePool(poolSize: 2, maxOverflow: 0, options: quietOptions, dialect: dialect, creator: dbapi.creator())
            let idle = try pool.connect()
            let out = try pool.connect()
            idle.close()
            pool.dispose()
            assertCounters(pool, checkedIn: 0, checkedOut: 1)
            out.close()
            assertCounters(pool, checkedIn: 1, checkedOut: 0)
            XCTAssertEqual(dbapi.connections.map(\.closeCount), [1, 0])
            pool.dispose()
            assertNothingLeaked(dbapi, pooled: 0, "QueuePool")
        }
        // NullPool: dispose does nothing; the return closes the connection as always.
        do {
            let dbapi = MockDBAPI()
            let pool = try NullPool(options: quietOptions, dialect: dialect, creator: dbapi.creator())
            let out = try pool.connect()
            pool.dispose()
            out.close()
            assertNothingLeaked(dbapi, pooled: 0, "NullPool")
        }
        // StaticPool: dispose closes the shared connection even while it is out (SQLAlchemy's
        // PD-05); the late return leaves the closed connection alone (no reset on it), and
        // nothing is left open.
        do {
            let dbapi = MockDBAPI()
            let pool = try StaticPool(options: quietOptions, dialect: dialect, creator: dbapi.creator())
            let out = try pool.connect()
            pool.dispose()
            out.close()
            XCTAssertEqual(dbapi.connections.first?.callsAfterClose, [], "no reset of a connection dispose() closed")
            let next = try pool.connect()
            XCTAssertFalse(next.dbapiConnection === dbapi.connections.first, "a new connection after dispose")
            next.close()
            pool.dispose()
            assertNothingLeaked(dbapi, pooled: 0, "StaticPool")
        }
        // AssertionPool: dispose clears the checked-out flag; the late return logs notCheckedOut.
        do {
            let dbapi = MockDBAPI()
            let log = LogCapture()
            let pool = try AssertionPool(options: log.options, dialect: dialect, creator: dbapi.creator())
            let out = try pool.connect()
            pool.dispose()
            out.close()
            XCTAssertTrue(log.contains(.error, "nothing checked out"), "\(log.texts(.error))")
            let next = try pool.connect()
            next.close()
            pool.dispose()
            assertNothingLeaked(dbapi, pooled: 0, "AssertionPool")
        }
        // SingletonThreadPool: dispose closes the thread's connection; the late return is harmless.
        do {
            let dbapi = MockDBAPI()
            let pool = try SingletonThreadPool(options: quietOptions, dialect: dialect, creator: dbapi.creator())
            let out = try pool.connect()
            pool.dispose()
            out.close()
            let next = try pool.connect()
            XCTAssertTrue(next.isValid)
            next.close()
            pool.dispose()
            assertNothingLeaked(dbapi, pooled: 0, "SingletonThreadPool")
        }
    }

    // MARK: Row 7: a creator that throws

    func testCreatorThatThrowsPropagatesUnwrappedAndLeavesNothingBehind() throws {
        var faults = ChaosConfiguration()
        faults.connectFailures = .always
        let chaos = ChaosDBAPI(seed: 1, configuration: faults)
        let dialect = ChaosDialect()
        let pools: [any Pool<ChaosConnection>] = [
            try QueuePool(poolSize: 1, maxOverflow: 0, timeout: .zero, options: quietOptions, dialect: dialect, creator: chaos.creator()),
            try NullPool(options: quietOptions, dialect: dialect, creator: chaos.creator()),
            try StaticPool(options: quietOptions, dialect: dialect, creator: chaos.creator()),
            try AssertionPool(options: quietOptions, dialect: dialect, creator: chaos.creator()),
            try SingletonThreadPool(options: quietOptions, dialect: dialect, creator: chaos.creator())
        ]
        for pool in pools {
            let recorder = EventRecorder()
            recorder.attach(to: pool.events)
            for _ in 0..<3 {
                XCTAssertThrowsError(try pool.connect(), "\(pool.status()) \(chaos.failureMessage)") { error in
                    XCTAssertTrue(error is ChaosError, "the creator's own error, unwrapped: \(error)")
                }
            }
            XCTAssertEqual(recorder.names, [], "no events for a connect that never produced a connection")
            if let queue = pool as? QueuePool<ChaosConnection> {
                XCTAssertEqual([queue.checkedIn, queue.checkedOut, queue.overflow], [0, 0, -1], "the slot is given back each time")
            }
        }
        XCTAssertEqual(chaos.connections.count, 0)
        XCTAssertEqual(chaos.failedConnects, 15, chaos.failureMessage)
    }

    // MARK: Row 8: a creator that returns a connection that already fails

    func testConnectionWhoseRollbackFailsIsInvalidatedOnReturnWithALoggedError() throws {
        for kind in [MockFailure.error, .disconnect] {
            let dbapi = MockDBAPI()
            let log = LogCapture()
            let pool = try QueuePool(
                poolSize: 1, maxOverflow: 0, options: log.options, dialect: MockDialect(),
                creator: { () throws -> MockConnection in
                    let connection = try dbapi.connect()
                    connection.failRollback = kind
                    return connection
                })
            let fairy = try pool.connect()
            fairy.close()
            XCTAssertTrue(log.contains(.error, "Exception during reset or similar"), "\(kind): \(log.texts(.error))")
            XCTAssertEqual(dbapi.connections.map(\.closeCount), [1], "\(kind): the failed connection is closed once")
            assertCounters(pool, checkedIn: 1, checkedOut: 0)
            let next = try pool.connect()
            XCTAssertTrue(next.dbapiConnection === dbapi.connections.last, "the record reconnects")
            next.close()
            pool.dispose()
            assertNothingLeaked(dbapi, pooled: 0, "\(kind)")
        }
    }

    func testConnectionWhosePingFailsIsReplacedOrReportedWithPrePing() throws {
        // A ping that reports a disconnect: the checkout reconnects transparently.
        do {
            let dbapi = MockDBAPI()
            let pool = try QueuePool(
                poolSize: 1, maxOverflow: 0, options: PoolOptions(prePing: true, logHandler: .disabled),
                dialect: MockDialect(), creator: dbapi.creator())
            try pool.connect().close()
            dbapi.connections[0].failPing = .disconnect
            let fairy = try pool.connect()
            XCTAssertTrue(fairy.dbapiConnection === dbapi.connections.last)
            XCTAssertEqual(dbapi.connections.map(\.closeCount), [1, 0])
            fairy.close()
            pool.dispose()
            assertNothingLeaked(dbapi, pooled: 0, "ping disconnect")
        }
        // A ping that fails with another error: the error propagates, the connection is closed.
        do {
            let dbapi = MockDBAPI()
            let pool = try QueuePool(
                poolSize: 1, maxOverflow: 0, options: PoolOptions(prePing: true, logHandler: .disabled),
                dialect: MockDialect(), creator: dbapi.creator())
            try pool.connect().close()
            dbapi.connections[0].failPing = .error
            XCTAssertThrowsError(try pool.connect()) { XCTAssertEqual($0 as? MockError, MockError("ping failed")) }
            XCTAssertEqual(dbapi.connections.map(\.closeCount), [1])
            assertCounters(pool, checkedIn: 1, checkedOut: 0)
            pool.dispose()
            assertNothingLeaked(dbapi, pooled: 0, "ping error")
        }
    }

    func testConnectionWhoseCloseThrowsIsCountedClosedWithALoggedError() throws {
        var faults = ChaosConfiguration()
        faults.closeThrows = .always
        let chaos = ChaosDBAPI(seed: 3, configuration: faults)
        let log = LogCapture()
        let pool = try QueuePool(poolSize: 1, maxOverflow: 1, options: log.options, dialect: ChaosDialect(), creator: chaos.creator())
        let a = try pool.connect()
        let b = try pool.connect()
        a.close()
        b.close()  // overflow: closed on return
        pool.dispose()  // the pooled one
        XCTAssertEqual(log.texts(.error).filter { $0.contains("Exception closing connection") }.count, 2, "\(log.texts(.error))")
        XCTAssertEqual(pool.checkedIn, 0)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(chaos.problems(expectOpen: 0), [], chaos.failureMessage)
    }
}
