import DBPool
import DBPoolTesting
import XCTest

final class LogRecorderTests: XCTestCase {
    func testRecordsWhatThePoolLogsAtOrAboveItsLevel() throws {
        let log = LogRecorder(level: .warning)
        let pool = try QueuePool(options: PoolOptions(logHandler: log.handler), dialect: MockDialect(), creator: MockDBAPI().creator())
        do {
            _ = try pool.connect()  // dropped without close(): a warning
        }
        try pool.connect().close()  // debug lines only: not recorded at .warning
        XCTAssertTrue(log.contains("dropped without close()"), "\(log.texts)")
        XCTAssertTrue(log.messages.allSatisfy { $0.level >= .warning })
        XCTAssertEqual(log.messages.first?.poolName, "QueuePool")
        log.removeAll()
        XCTAssertEqual(log.texts, [])
    }

    func testGuardedKeepsConcurrentUpdates() {
        let total = Guarded(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<1_000 { total.update { $0 += 1 } }
        }
        XCTAssertEqual(total.value, 8_000)
        XCTAssertEqual(total.withLock { $0 }, 8_000)
    }
}
