import XCTest
import DBPool
import DBPoolTesting
import Synchronization

/// StaticPool: one lazily created record shared by every checkout.
final class StaticPoolTests: XCTestCase {
    // The record is created lazily, on the first checkout.
    func testRecordIsCreatedLazily() throws {
        let dbapi = MockDBAPI()
        let pool = try StaticPool(dialect: MockDialect(), creator: dbapi.creator())
        XCTAssertEqual(dbapi.connectCount, 0)
        let fairy = try pool.connect()
        XCTAssertEqual(dbapi.connectCount, 1)
        fairy.close()
        XCTAssertEqual(dbapi.connectCount, 1)
    }

    // Two simultaneous checkouts share one driver connection through two
    // distinct fairies, and each close performs a rollback (and fires checkin).
    func testSimultaneousCheckoutsShareOneConnectionAndEachCloseRollsBack() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try StaticPool(dialect: MockDialect(log: log), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)

        let a = try pool.connect()
        let b = try pool.connect()
        XCTAssertFalse(a === b, "each checkout must get its own fairy")
        let conn = try XCTUnwrap(a.dbapiConnection)
        XCTAssertEqual(b.dbapiConnection?.id, conn.id)
        XCTAssertEqual(dbapi.connectCount, 1)
        XCTAssertEqual(recorder.count(.checkout), 2)
        XCTAssertNotEqual(recorder.events(.checkout)[0].fairyID, recorder.events(.checkout)[1].fairyID)

        a.close()
        XCTAssertEqual(conn.calls, ["rollback()"])
        XCTAssertFalse(conn.closed)
        XCTAssertTrue(b.isValid, "closing one holder must not end the other's checkout")
        XCTAssertEqual(b.dbapiConnection?.id, conn.id)

        b.close()
        XCTAssertEqual(conn.calls, ["rollback()", "rollback()"])
        XCTAssertEqual(log.entries, ["R", "R"])
        XCTAssertFalse(conn.closed, "a StaticPool return never closes the shared connection")
        XCTAssertEqual(recorder.count(.checkin), 2)
        XCTAssertEqual(recorder.count(.close), 0)
    }

    // Checkout, close, checkout gives the same driver connection.
    func testCheckoutCloseCheckoutGivesSameConnection() throws {
        let dbapi = MockDBAPI()
        let pool = try StaticPool(dialect: MockDialect(), creator: dbapi.creator())
        let first = try pool.connect()
        let id = try XCTUnwrap(first.dbapiConnection).id
        let record = try XCTUnwrap(first.record)
        first.close()
        let second = try pool.connect()
        XCTAssertEqual(second.dbapiConnection?.id, id)
        XCTAssertTrue(second.record === record)
        second.close()
        XCTAssertEqual(dbapi.connectCount, 1)
    }

    // A hard-invalidated record is replaced on the next checkout.
    func testHardInvalidationReplacesRecord() throws {
        let dbapi = MockDBAPI()
        let pool = try StaticPool(dialect: MockDialect(), creator: dbapi.creator())
        let first = try pool.connect()
        let oldConn = try XCTUnwrap(first.dbapiConnection)
        let oldRecord = try XCTUnwrap(first.record)
        first.invalidate()
        XCTAssertTrue(oldConn.closed)
        XCTAssertEqual(oldConn.calls, ["close()"])

        let second = try pool.connect()
        XCTAssertNotEqual(second.dbapiConnection?.id, oldConn.id)
        XCTAssertFalse(try XCTUnwrap(second.record) === oldRecord, "the record itself must be replaced")
        XCTAssertEqual(dbapi.connectCount, 2)
        second.close()
    }

    // A soft-invalidated record keeps working until returned and is replaced at the next
    // checkout, which closes the old connection.
    func testSoftInvalidationReplacesRecord() throws {
        let dbapi = MockDBAPI()
        let pool = try StaticPool(dialect: MockDialect(), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)
        let first = try pool.connect()
        let oldConn = try XCTUnwrap(first.dbapiConnection)
        let oldRecord = try XCTUnwrap(first.record)
        first.invalidate(soft: true)
        XCTAssertTrue(first.isValid)
        XCTAssertFalse(oldConn.closed)
        XCTAssertEqual(recorder.count(.softInvalidate), 1)
        first.close()
        XCTAssertFalse(oldConn.closed)

        let second = try pool.connect()
        XCTAssertTrue(oldConn.closed, "the replaced record's connection must be closed")
        XCTAssertNotEqual(second.dbapiConnection?.id, oldConn.id)
        XCTAssertFalse(try XCTUnwrap(second.record) === oldRecord)
        XCTAssertEqual(dbapi.connectCount, 2)
        XCTAssertEqual(recorder.count(.invalidate), 0)
        second.close()
    }

    // A record older than a pool-wide invalidation is replaced on the next checkout.
    func testInvalidateAllReplacesRecord() throws {
        let dbapi = MockDBAPI()
        let pool = try StaticPool(dialect: MockDialect(), creator: dbapi.creator())
        let first = try pool.connect()
        let oldConn = try XCTUnwrap(first.dbapiConnection)
        let oldRecord = try XCTUnwrap(first.record)
        first.close()

        pool.invalidateAll(triggeredBy: nil, error: nil)
        XCTAssertFalse(oldConn.closed, "idle connections are not closed eagerly")

        let second = try pool.connect()
        XCTAssertTrue(oldConn.closed)
        XCTAssertNotEqual(second.dbapiConnection?.id, oldConn.id)
        XCTAssertFalse(try XCTUnwrap(second.record) === oldRecord)
        let newID = try XCTUnwrap(second.dbapiConnection).id
        second.close()

        // The new record is not stale: the next checkout keeps it.
        let third = try pool.connect()
        XCTAssertEqual(third.dbapiConnection?.id, newID)
        XCTAssertEqual(dbapi.connectCount, 2)
        third.close()
    }

    // A record replaced while holders still use it keeps its connection open until the
    // last holder returns; that return closes it, once, after its rollback.
    func testReplacedRecordIsClosedByItsLastHolder() throws {
        let dbapi = MockDBAPI()
        let pool = try StaticPool(dialect: MockDialect(), creator: dbapi.creator())
        let a = try pool.connect()
        let b = try pool.connect()
        let oldConn = try XCTUnwrap(a.dbapiConnection)
        a.invalidate(soft: true)

        let c = try pool.connect()
        XCTAssertNotEqual(c.dbapiConnection?.id, oldConn.id, "a soft-invalidated record is replaced")
        XCTAssertFalse(oldConn.closed, "holders of the old record keep a working connection")
        XCTAssertEqual(b.dbapiConnection?.id, oldConn.id)

        a.close()
        XCTAssertFalse(oldConn.closed)
        b.close()
        XCTAssertTrue(oldConn.closed, "the last holder's return closes the replaced connection")
        XCTAssertEqual(oldConn.calls, ["rollback()", "rollback()", "close()"])
        XCTAssertEqual(oldConn.callsAfterClose, [])
        c.close()
        XCTAssertEqual(dbapi.openConnections.map(\.id), [dbapi.connections[1].id])
    }

    // A failed creator leaves no record behind; the next checkout tries again.
    func testFailedCreatorLeavesNoRecord() throws {
        let dbapi = MockDBAPI()
        let pool = try StaticPool(dialect: MockDialect(), creator: dbapi.creator())
        dbapi.failNextConnects(1)
        XCTAssertThrowsError(try pool.connect()) { error in
            XCTAssertEqual(error as? MockError, MockError("connect failed"), "the creator's error is passed through")
        }
        let fairy = try pool.connect()
        XCTAssertTrue(fairy.isValid)
        fairy.close()
        XCTAssertEqual(dbapi.connectCount, 2)
    }

    // dispose closes and forgets the record; the next checkout makes a new one. The dialect sees
    // ["R", "CL", "R"]: the return's rollback, dispose's close, the next return's rollback.
    func testDisposeClosesAndForgetsRecord() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try StaticPool(dialect: MockDialect(log: log), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.close])

        let first = try pool.connect()
        let oldConn = try XCTUnwrap(first.dbapiConnection)
        let oldRecord = try XCTUnwrap(first.record)
        first.close()
        pool.dispose()
        XCTAssertTrue(oldConn.closed)
        XCTAssertEqual(recorder.events(.close).map(\.connectionID), [oldConn.id])

        let second = try pool.connect()
        XCTAssertNotEqual(second.dbapiConnection?.id, oldConn.id)
        XCTAssertFalse(try XCTUnwrap(second.record) === oldRecord, "dispose must forget the record")
        second.close()
        XCTAssertEqual(log.entries, ["R", "CL", "R"])
        XCTAssertEqual(dbapi.connectCount, 2)
    }

    // A connection checked out before dispose() and returned after it: dispose closed the shared
    // connection while it was out, the late return leaves it alone and only fires checkin, and the
    // next checkout makes a new connection.
    func testConnectionReturnedAfterDisposeIsLeftAlone() throws {
        let dbapi = MockDBAPI()
        let pool = try StaticPool(options: PoolOptions(logHandler: .disabled), dialect: MockDialect(), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)
        let out = try pool.connect()
        pool.dispose()
        XCTAssertEqual(dbapi.connections.map(\.closeCount), [1], "dispose closes the shared connection even while it is out")
        recorder.clear()
        out.close()
        XCTAssertEqual(recorder.names, ["checkin"], "the late return only checks in")
        XCTAssertEqual(dbapi.connections[0].callsAfterClose, [], "no reset of a connection dispose() closed")
        let next = try pool.connect()
        XCTAssertFalse(next.dbapiConnection === dbapi.connections[0], "a new connection after dispose")
        next.close()
        pool.dispose()
        XCTAssertEqual(dbapi.connections.map(\.closeCount), [1, 1], "nothing leaked, nothing closed twice")
    }

    // dispose before any checkout, or twice, does nothing.
    func testDisposeWithoutRecordDoesNothing() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try StaticPool(dialect: MockDialect(log: log), creator: dbapi.creator())
        pool.dispose()
        try pool.connect().close()
        pool.dispose()
        pool.dispose()
        XCTAssertEqual(log.entries, ["R", "CL"])
    }

    // recreate keeps the same creator (and listeners and configuration).
    func testRecreateKeepsSameCreator() throws {
        let calls = Mutex<[Int]>([])
        let dbapi = MockDBAPI()
        let pool = try StaticPool(
            options: PoolOptions(resetOnReturn: .noAction, loggingName: "sp"), dialect: MockDialect()
        ) { () throws -> MockConnection in
            let conn = try dbapi.connect()
            calls.withLock { $0.append(conn.id) }
            return conn
        }
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.checkout])
        let first = try pool.connect()
        let firstConn = try XCTUnwrap(first.dbapiConnection)
        first.close()

        let second = pool.recreate()
        XCTAssertEqual(second.status(), "StaticPool")
        XCTAssertEqual(second.options.loggingName, "sp")
        XCTAssertEqual(second.options.resetOnReturn, .noAction)
        let fairy = try second.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        XCTAssertNotEqual(conn.id, firstConn.id, "a recreated pool starts with no record")
        XCTAssertEqual(calls.withLock { $0 }, [firstConn.id, conn.id], "both pools must call the same creator")
        XCTAssertEqual(conn.calls, [], "resetOnReturn .noAction must be carried over")
        XCTAssertEqual(recorder.count(.checkout), 2, "listeners must be copied")
    }

    // The status is the pool kind's name, whatever is checked out.
    func testStatus() throws {
        let pool = try StaticPool(dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertEqual(pool.status(), "StaticPool")
        let fairy = try pool.connect()
        XCTAssertEqual(pool.status(), "StaticPool")
        fairy.close()
    }
}
