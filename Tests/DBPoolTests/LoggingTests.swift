import XCTest
import DBPool
import DBPoolTesting
import Synchronization

/// The pool's log messages, through PoolLogHandler: the messages of a checkout/return cycle in
/// order and at their levels, the dispose line, level filtering and the pool's name.
final class LoggingTests: XCTestCase {
    private static let markers = [
        "Created new connection",
        "checked out from pool",
        "being returned to pool",
        "rollback-on-return",
        "reset, transaction already reset"
    ]

    /// Each message reduced to the first marker it contains; messages with none are dropped.
    private func markerSequence(_ messages: [PoolLogMessage]) -> [String] {
        messages.compactMap { message in Self.markers.first { message.message.contains($0) } }
    }

    private func cycle(_ transactionReset: Bool?) -> [String] {
        let reset = transactionReset == true ? "reset, transaction already reset" : "rollback-on-return"
        return ["checked out from pool", "being returned to pool", reset]
    }

    // A QueuePool at debug level: five cycles (close, close, special close with
    // transactionWasReset true, special close with false, a dropped fairy), then dispose. Each
    // cycle logs its messages in order; the new connection is logged at info, the rest at debug;
    // dispose closes the idle connection, then logs "Pool disposed." with the status. (SQLAlchemy's
    // own logging test runs the same cycles.)
    func testQueuePoolDebugLogSequence() throws {
        let sink = LoggingTestSink()
        let pool = try QueuePool(
            poolSize: 5, maxOverflow: 10, options: PoolOptions(logHandler: sink.handler(level: .debug)),
            dialect: MockDialect(), creator: MockDBAPI().creator())

        try pool.connect().close()
        try pool.connect().close()
        try pool.connect().close(transactionWasReset: true)
        try pool.connect().close(transactionWasReset: false)
        do { _ = try pool.connect() }  // dropped without close(): returned by deinit
        XCTAssertEqual(pool.checkedIn, 1)
        let beforeDispose = sink.messages

        XCTAssertEqual(
            markerSequence(beforeDispose),
            ["Created new connection"]
                + cycle(false) + cycle(false) + cycle(true) + cycle(false) + cycle(false))
        XCTAssertEqual(beforeDispose.first { $0.message.contains("Created new connection") }?.level, .info)
        XCTAssertEqual(beforeDispose.first { $0.message.contains("checked out from pool") }?.level, .debug)
        XCTAssertTrue(beforeDispose.allSatisfy { $0.poolName == "QueuePool" })

        pool.dispose()
        let afterDispose = Array(sink.messages.dropFirst(beforeDispose.count))
        let disposed = afterDispose.filter { $0.message.hasPrefix("Pool disposed. ") }
        XCTAssertEqual(disposed.map(\.message), ["Pool disposed. " + pool.status()])
        XCTAssertEqual(
            disposed.first?.message,
            "Pool disposed. Pool size: 5  Connections in pool: 0 Current Overflow: -5 Current Checked out connections: 0")
        // The idle connection is closed by the dispose, before the "Pool disposed." line.
        let closing = afterDispose.firstIndex { $0.message.contains("losing connection") }
        let disposedIndex = afterDispose.firstIndex { $0.message.hasPrefix("Pool disposed. ") }
        XCTAssertNotNil(closing)
        if let closing, let disposedIndex { XCTAssertLessThan(closing, disposedIndex) }
    }

    // The cycle messages in order (checked out, being returned, rollback-on-return), with
    // nothing else in between that matches the markers.
    func testCheckoutCloseCycleMessagesInOrder() throws {
        let sink = LoggingTestSink()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, options: PoolOptions(logHandler: sink.handler(level: .debug)),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        let fairy = try pool.connect()
        XCTAssertEqual(markerSequence(sink.messages), ["Created new connection", "checked out from pool"])
        fairy.close()
        XCTAssertEqual(
            markerSequence(sink.messages),
            ["Created new connection", "checked out from pool", "being returned to pool", "rollback-on-return"])
    }

    // A special close with transactionWasReset logs "reset, transaction already reset"
    // instead of the rollback line.
    func testTransactionAlreadyResetMessage() throws {
        let sink = LoggingTestSink()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, options: PoolOptions(logHandler: sink.handler(level: .debug)),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        let before = sink.messages.count
        fairy.close(transactionWasReset: true)
        let returned = Array(sink.messages.dropFirst(before)).map(\.message)
        XCTAssertTrue(returned.contains { $0.contains("reset, transaction already reset") }, "\(returned)")
        XCTAssertFalse(returned.contains { $0.contains("rollback-on-return") }, "\(returned)")
        XCTAssertEqual(conn.calls, [])
    }

    // The same cycle messages from a SingletonThreadPool.
    func testSingletonThreadPoolCycleMessages() throws {
        let sink = LoggingTestSink()
        let pool = try SingletonThreadPool(
            options: PoolOptions(logHandler: sink.handler(level: .debug)),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        try pool.connect().close()
        try pool.connect().close(transactionWasReset: true)
        XCTAssertEqual(markerSequence(sink.messages), ["Created new connection"] + cycle(false) + cycle(true))
        XCTAssertTrue(sink.messages.allSatisfy { $0.poolName == "SingletonThreadPool" })
    }

    // Messages below the handler's level are not delivered; loggingName names the pool.
    func testLevelFilteringAndLoggingName() throws {
        let sink = LoggingTestSink()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0,
            options: PoolOptions(loggingName: "orders-db", logHandler: sink.handler(level: .info)),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        try pool.connect().close()
        try pool.connect().close()
        XCTAssertEqual(markerSequence(sink.messages), ["Created new connection"])
        XCTAssertTrue(sink.messages.allSatisfy { $0.level >= .info })
        XCTAssertTrue(sink.messages.allSatisfy { $0.poolName == "orders-db" })
        pool.dispose()
        XCTAssertEqual(sink.messages.last?.message, "Pool disposed. " + pool.status())
        XCTAssertEqual(sink.messages.last?.level, .info)
    }
}

/// Collects the messages of a pool's log handler, thread-safely.
private final class LoggingTestSink: Sendable {
    private let storage = Mutex<[PoolLogMessage]>([])

    func handler(level: PoolLogLevel) -> PoolLogHandler {
        PoolLogHandler(level: level) { [self] message in storage.withLock { $0.append(message) } }
    }

    var messages: [PoolLogMessage] { storage.withLock { $0 } }
}
