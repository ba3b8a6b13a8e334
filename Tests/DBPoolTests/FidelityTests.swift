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
    // MARK: dispose() order

    /// Issue 14 item 12: SQLAlchemy's dispose() takes idle connections out of the queue one by
    /// one, so under LIFO the most recently returned is closed first, and under FIFO the oldest.
    func testDisposeClosesIdleConnectionsInCheckoutOrder() throws {
        for lifo in [true, false] {
            let f = try Fixture(poolSize: 3, useLIFO: lifo)
            let fairies = try (0..<3).map { _ in try f.pool.connect() }
            let returned = try fairies.map { try XCTUnwrap($0.dbapiConnection).id }
            fairies.forEach { $0.close() }
            f.recorder.clear()

            f.pool.dispose()
            let closed = f.recorder.events(.close).map(\.connectionID)
            XCTAssertEqual(closed, lifo ? returned.reversed() : returned, "useLIFO: \(lifo)")
        }
    }

    // MARK: Statistics

    /// Issue 14 item 8: every pool kind counts its successful checkouts, and only those.
    /// (QueuePool has its own tests: it counts in its state machine.)
    func testEveryPoolKindCountsSuccessfulCheckoutsOnly() throws {
        let options = PoolOptions(logHandler: .disabled)
        let dbapi = MockDBAPI()
        let pools: [(String, any Pool<MockConnection>)] = [
            ("NullPool", try NullPool(options: options, dialect: MockDialect(), creator: dbapi.creator())),
            ("StaticPool", try StaticPool(options: options, dialect: MockDialect(), creator: dbapi.creator())),
            ("AssertionPool", try AssertionPool(options: options, dialect: MockDialect(), creator: dbapi.creator())),
            ("SingletonThreadPool", try SingletonThreadPool(options: options, dialect: MockDialect(), creator: dbapi.creator())),
        ]
        for (name, pool) in pools {
            try pool.connect().close()
            try pool.connect().close()
            XCTAssertEqual(pool.statistics.checkouts, 2, name)

            // A checkout listener that fails: the checkout does not succeed and is not counted.
            let token = pool.events.onCheckout { _, _, _ in throw MockError("refused by listener") }
            XCTAssertThrowsError(try pool.connect(), name)
            pool.events.remove(token)
            XCTAssertEqual(pool.statistics.checkouts, 2, "\(name): a failed checkout is not counted")
        }
    }

    /// Issue 14 item 8: a checkout whose connect fails is not counted either.
    func testCheckoutWhoseConnectFailsIsNotCounted() throws {
        let dbapi = MockDBAPI()
        let pool = try NullPool(options: PoolOptions(logHandler: .disabled), dialect: MockDialect(), creator: dbapi.creator())
        try pool.connect().close()
        dbapi.failNextConnects(1)
        XCTAssertThrowsError(try pool.connect())
        XCTAssertEqual(pool.statistics.checkouts, 1)
        XCTAssertEqual(pool.statistics.connectFailures, 1)
    }

    /// A nested SingletonThreadPool checkout hands out the thread's fairy again: no new checkout.
    func testNestedSingletonThreadCheckoutIsNotASecondCheckout() throws {
        let pool = try SingletonThreadPool(options: PoolOptions(logHandler: .disabled), dialect: MockDialect(), creator: MockDBAPI().creator())
        let outer = try pool.connect()
        let inner = try pool.connect()
        XCTAssertTrue(inner === outer)
        inner.close()
        outer.close()
        XCTAssertEqual(pool.statistics.checkouts, 1)
    }

    /// Issue 14 item 9: `statistics.overflow` counts connections beyond poolSize and is never
    /// negative, while `QueuePool.overflow` keeps SQLAlchemy's signed value.
    func testStatisticsOverflowIsConnectionsBeyondPoolSize() throws {
        let pool = try QueuePool(poolSize: 5, maxOverflow: 2, options: PoolOptions(logHandler: .disabled),
                                 dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertEqual(pool.overflow, -5, "SQLAlchemy's overflow() on a fresh pool")
        XCTAssertEqual(pool.statistics.overflow, 0)
        let held = try (0..<6).map { _ in try pool.connect() }
        XCTAssertEqual(pool.overflow, 1)
        XCTAssertEqual(pool.statistics.overflow, 1)
        held.forEach { $0.close() }
        XCTAssertEqual(pool.statistics.overflow, 0)
    }

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
