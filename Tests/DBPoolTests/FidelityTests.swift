import DBPool
import DBPoolTesting
import Synchronization
import XCTest

// Issue 14 items 8-12 and issue 20 item 3: where a user of SQLAlchemy's pool would see different
// events, driver calls or counters, and a fairy that still touched a connection its record had
// closed.

private struct Fixture {
    let dbapi = MockDBAPI()
    let log = MockCallLog()
    let recorder: EventRecorder
    let pool: QueuePool<MockConnection>

    init(poolSize: Int = 2, maxOverflow: Int = 0, useLIFO: Bool = false) throws {
        recorder = EventRecorder(log: log)
        pool = try QueuePool(
            poolSize: poolSize, maxOverflow: maxOverflow, timeout: .milliseconds(50), useLIFO: useLIFO,
            options: PoolOptions(logHandler: .disabled), dialect: MockDialect(log: log), creator: dbapi.creator())
        recorder.attach(to: pool.events)
    }
}

final class FidelityTests: XCTestCase {
    // MARK: keepAlive needs a ping

    /// Issue 14 item 5: keepAlive over a dialect that cannot ping would close and reopen every
    /// healthy idle connection each interval; the pool refuses it at construction.
    func testKeepAliveWithADialectThatCannotPingIsRejected() throws {
        XCTAssertFalse(DefaultDialect<MockConnection>().supportsPing)
        XCTAssertTrue(MockDialect().supportsPing)
        let dbapi = MockDBAPI()
        XCTAssertThrowsError(try QueuePool(options: PoolOptions(logHandler: .disabled, keepAlive: .seconds(30)),
                                           creator: dbapi.creator())) { error in
            guard case let .invalidArgument(message)? = error as? PoolError else {
                return XCTFail("expected invalidArgument, got \(error)")
            }
            XCTAssertTrue(message.contains("keepAlive"), message)
            XCTAssertTrue(message.contains("ping"), message)
        }
        XCTAssertEqual(dbapi.connectCount, 0)
        // The same option over a dialect that pings is accepted.
        let pool = try QueuePool(options: PoolOptions(logHandler: .disabled, keepAlive: .seconds(30)),
                                 dialect: MockDialect(), creator: dbapi.creator())
        try pool.connect().close()
    }
}
