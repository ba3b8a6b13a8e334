import DBPool
import DBPoolTesting
import Synchronization
import XCTest

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

/// Where a user of SQLAlchemy's pool would otherwise see different events, driver calls or
/// counters: a fairy whose record closed its connection under it, the order in which dispose()
/// closes idle connections, and what the statistics count.
final class FidelityTests: XCTestCase {
    // MARK: A record that closed its connection under a checked-out fairy

    /// SQLAlchemy's garbage-collection path finalises with the record's
    /// connection, which is gone, so it fires only `checkin` with no connection and the driver
    /// sees `close()` alone; no `reset`, no rollback of the closed connection.
    func testDroppedFairyWhoseRecordWasInvalidatedOnlyChecksIn() throws {
        let f = try Fixture(poolSize: 1)
        let conn: MockConnection = try {
            let fairy = try f.pool.connect()
            fairy.record?.invalidate()
            return try XCTUnwrap(fairy.dbapiConnection)
        }()
        XCTAssertEqual(f.log.entries, ["first_connect", "connect", "checkout", "invalidate", "close", "T", "checkin"])
        XCTAssertTrue(try XCTUnwrap(f.recorder.events(.checkin).first).connectionWasNil)
        XCTAssertEqual(conn.calls, ["close()"])
        XCTAssertEqual(conn.callsAfterClose, [])
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
    }

    /// The explicit close of the same fairy. Once the record has closed the
    /// connection the fairy says it is no longer valid, and its close() does not call the driver.
    func testClosingFairyWhoseRecordWasInvalidatedDoesNotTouchTheConnection() throws {
        let f = try Fixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.record?.invalidate()
        XCTAssertFalse(fairy.isValid, "the record closed the connection")
        f.log.removeAll()

        fairy.close()
        XCTAssertEqual(f.log.entries, ["checkin"])
        XCTAssertEqual(conn.calls, ["close()"])
        XCTAssertEqual(conn.callsAfterClose, [])
        XCTAssertFalse(fairy.isValid)
        XCTAssertNil(fairy.record)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)

        // The record reconnects on its next checkout; the pool is whole.
        let again = try f.pool.connect()
        XCTAssertNotEqual(again.dbapiConnection?.id, conn.id)
        XCTAssertTrue(again.isValid)
        again.close()
    }

    /// A fairy's own hard invalidation after its record closed the connection ends the checkout
    /// without terminating the connection a second time.
    func testInvalidatingFairyWhoseRecordWasInvalidatedClosesNothingTwice() throws {
        let f = try Fixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.record?.invalidate()
        f.log.removeAll()
        fairy.invalidate()
        XCTAssertEqual(f.log.entries, ["checkin"])
        XCTAssertEqual(conn.closeCount, 1)
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    /// SQLAlchemy's detach() fires `detach` with the fairy's own connection even
    /// when the record was hard-invalidated first, and the record goes back to the pool. The
    /// connection is already closed, so closing the detached fairy calls nothing on it.
    func testDetachAfterRecordInvalidationFiresDetachWithTheFairysConnection() throws {
        let f = try Fixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        let record = try XCTUnwrap(fairy.record)
        record.invalidate()
        f.log.removeAll()

        fairy.detach()
        XCTAssertEqual(f.log.entries, ["detach"])
        let detach = try XCTUnwrap(f.recorder.events(.detach).first)
        XCTAssertEqual(detach.connectionID, conn.id)
        XCTAssertEqual(detach.recordID, ObjectIdentifier(record))
        XCTAssertTrue(fairy.isDetached)
        XCTAssertFalse(record.inUse)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)

        f.log.removeAll()
        fairy.close()
        XCTAssertEqual(f.log.entries, [])
        XCTAssertEqual(conn.closeCount, 1)
        XCTAssertEqual(conn.callsAfterClose, [])
    }

    /// AssertionPool's dispose() closes the checked-out connection; the holder's close() then
    /// leaves it alone instead of rolling back a closed connection.
    func testCloseAfterDisposeClosedTheCheckedOutConnectionDoesNotResetIt() throws {
        let dbapi = MockDBAPI()
        let pool = try AssertionPool(options: PoolOptions(logHandler: .disabled), dialect: MockDialect(), creator: dbapi.creator())
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        pool.dispose()
        XCTAssertFalse(fairy.isValid)
        fairy.close()
        XCTAssertEqual(conn.calls, ["close()"])
    }

    // MARK: dispose() order

    /// SQLAlchemy's dispose() takes idle connections out of the queue one by
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

    /// Every pool kind counts its successful checkouts, and only those.
    /// (QueuePool has its own tests: it counts in its state machine.)
    func testEveryPoolKindCountsSuccessfulCheckoutsOnly() throws {
        let options = PoolOptions(logHandler: .disabled)
        let dbapi = MockDBAPI()
        let pools: [(String, any Pool<MockConnection>)] = [
            ("NullPool", try NullPool(options: options, dialect: MockDialect(), creator: dbapi.creator())),
            ("StaticPool", try StaticPool(options: options, dialect: MockDialect(), creator: dbapi.creator())),
            ("AssertionPool", try AssertionPool(options: options, dialect: MockDialect(), creator: dbapi.creator())),
            ("SingletonThreadPool", try SingletonThreadPool(options: options, dialect: MockDialect(), creator: dbapi.creator()))
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

    /// A checkout whose connect fails is not counted either.
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

    /// `statistics.overflow` counts connections beyond poolSize and is never
    /// negative, while `QueuePool.overflow` keeps SQLAlchemy's signed value.
    func testStatisticsOverflowIsConnectionsBeyondPoolSize() throws {
        let pool = try QueuePool(
            poolSize: 5, maxOverflow: 2, options: PoolOptions(logHandler: .disabled),
            dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertEqual(pool.overflow, -5, "SQLAlchemy's overflow() on a fresh pool")
        XCTAssertEqual(pool.statistics.overflow, 0)
        let held = try (0..<6).map { _ in try pool.connect() }
        XCTAssertEqual(pool.overflow, 1)
        XCTAssertEqual(pool.statistics.overflow, 1)
        held.forEach { $0.close() }
        XCTAssertEqual(pool.statistics.overflow, 0)
    }
}
