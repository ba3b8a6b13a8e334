import DBPool
import DBPoolLogging
import DBPoolTesting
import Logging
import Synchronization
import XCTest

/// A swift-log handler that keeps every entry, for assertions.
final class CapturingLogHandler: LogHandler, Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }
    private let storage = Mutex<[Entry]>([])
    private let levelStorage: Logger.Level
    init(level: Logger.Level) { levelStorage = level }
    var entries: [Entry] { storage.withLock { $0 } }

    var logLevel: Logger.Level {
        get { levelStorage }
        set {}  // fixed at creation for these tests
    }
    var metadata: Logger.Metadata {
        get { ["app": "test"] }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set {}
    }
    func log(event: LogEvent) {
        var merged = metadata
        merged.merge(event.metadata ?? [:]) { $1 }
        storage.withLock { $0.append(Entry(level: event.level, message: "\(event.message)", metadata: merged)) }
    }
}

final class LoggingTests: XCTestCase {
    func testLevelsMapAndMetadataHasTheErrorOnlyWhenThereIsOne() throws {
        let capture = CapturingLogHandler(level: .debug)
        let logger = Logger(label: "db") { _ in capture }
        let handler = PoolLogHandler.swiftLog(logger)
        XCTAssertEqual(handler.level, .debug)
        handler.emit(PoolLogMessage(level: .info, message: "Pool disposed", poolName: "orders"))
        handler.emit(PoolLogMessage(level: .error, message: "Exception closing connection", poolName: "orders", error: MockError("boom")))
        handler.emit(PoolLogMessage(level: .warning, message: "w", poolName: ""))
        handler.emit(PoolLogMessage(level: .debug, message: "d", poolName: "p"))
        let entries = capture.entries
        XCTAssertEqual(entries.map(\.level), [.info, .error, .warning, .debug])
        XCTAssertEqual(entries[0].message, "Pool disposed")
        XCTAssertEqual(entries[0].metadata["pool"], "orders")
        XCTAssertNil(entries[0].metadata["error"], "no empty error= on lines without an error")
        XCTAssertEqual(entries[1].metadata["error"], .string(String(describing: MockError("boom"))))
        XCTAssertNil(entries[2].metadata["pool"], "no empty pool name")
        XCTAssertEqual(entries[0].metadata["app"], "test", "the logger's own metadata is kept")
    }

    func testThePoolFormatsNothingBelowTheLoggersLevel() throws {
        for (loggerLevel, poolLevel) in [
            (Logger.Level.trace, PoolLogLevel.debug), (.debug, .debug), (.info, .info),
            (.notice, .warning), (.warning, .warning), (.error, .error)
        ] {
            let logger = Logger(label: "db") { _ in CapturingLogHandler(level: loggerLevel) }
            XCTAssertEqual(PoolLogHandler.swiftLog(logger).level, poolLevel, "\(loggerLevel)")
        }
        // A real pool at .warning: the debug line of every checkout is never built.
        let capture = CapturingLogHandler(level: .warning)
        let logger = Logger(label: "db") { _ in capture }
        let pool = try QueuePool(
            options: PoolOptions(loggingName: "orders", logHandler: .swiftLog(logger)),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertFalse(pool.options.logHandler.isEnabled(.debug))
        try pool.connect().close()
        XCTAssertTrue(capture.entries.isEmpty)
        try pool.connect().invalidate()  // logs nothing at warning either: invalidation is info
        let critical = Logger(label: "db") { _ in CapturingLogHandler(level: .critical) }
        PoolLogHandler.swiftLog(critical).emit(PoolLogMessage(level: .error, message: "dropped", poolName: "p"))
    }

    func testARealPoolLogsThroughTheLogger() throws {
        let capture = CapturingLogHandler(level: .info)
        let logger = Logger(label: "db") { _ in capture }
        let pool = try QueuePool(
            options: PoolOptions(loggingName: "orders", logHandler: .swiftLog(logger)),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        try pool.connect().close()
        pool.dispose()
        let disposed = try XCTUnwrap(capture.entries.first { $0.message.hasPrefix("Pool disposed") })
        XCTAssertEqual(disposed.level, .info)
        XCTAssertEqual(disposed.metadata["pool"], "orders")
        XCTAssertNil(disposed.metadata["error"])
    }
}
