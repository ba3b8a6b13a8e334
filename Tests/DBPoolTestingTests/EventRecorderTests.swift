import DBPool
import DBPoolTesting
import XCTest

/// These drive a real QueuePool, as a user's test would, so they also check that the kit's
/// pieces fit the pool's public API.
final class EventRecorderTests: XCTestCase {
    private func makePool(
        log: MockCallLog? = nil, options: PoolOptions = PoolOptions()
    ) throws -> (MockDBAPI, QueuePool<MockConnection>) {
        let dbapi = MockDBAPI()
        let pool = try QueuePool(
            poolSize: 2, maxOverflow: 0, options: options,
            dialect: MockDialect(log: log), creator: dbapi.creator("foo.db"))
        return (dbapi, pool)
    }

    func testCheckoutAndReturnSequenceInterleavedWithDialect() throws {
        let log = MockCallLog()
        let (dbapi, pool) = try makePool(log: log)
        let recorder = EventRecorder(log: log)
        recorder.attach(to: pool.events)

        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()

        XCTAssertEqual(recorder.names, ["first_connect", "connect", "checkout", "reset", "checkin"])
        XCTAssertEqual(log.entries, ["first_connect", "connect", "checkout", "reset", "R", "checkin"])
        XCTAssertEqual(conn.calls, ["rollback()"])
        XCTAssertEqual(dbapi.connectCalls, [["foo.db"]])

        let events = recorder.events
        XCTAssertTrue(events.allSatisfy { $0.connectionID == conn.id })
        XCTAssertEqual(Set(events.compactMap(\.recordID)).count, 1, "one record throughout")
        XCTAssertNotNil(recorder.events(.checkout).first?.fairyID)
        XCTAssertEqual(
            recorder.events(.reset).first?.resetState,
            PoolResetState(transactionWasReset: false, terminateOnly: false, asyncioSafe: true))
        XCTAssertFalse(recorder.events(.checkin)[0].connectionWasNil)
        pool.dispose()
        XCTAssertEqual(dbapi.openConnections.count, 0)
    }

    func testInvalidateRecordsErrorAndNilCheckin() throws {
        let (_, pool) = try makePool()
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.invalidate, .close, .checkin])
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.invalidate(MockDisconnectError("boom"))

        XCTAssertEqual(recorder.names, ["invalidate", "close", "checkin"])
        let invalidate = try XCTUnwrap(recorder.events(.invalidate).first)
        XCTAssertEqual(invalidate.error as? MockDisconnectError, MockDisconnectError("boom"))
        XCTAssertEqual(invalidate.connectionID, conn.id)
        XCTAssertTrue(recorder.events(.checkin)[0].connectionWasNil)
        XCTAssertEqual("\(recorder.events(.checkin)[0])", "checkin(nil)")
        XCTAssertTrue(conn.closed)
    }

    func testDetachedCloseAndMarkersAndClear() throws {
        let (_, pool) = try makePool()
        let recorder = EventRecorder()
        let tokens = recorder.attach(to: pool.events)
        XCTAssertEqual(tokens.count, 10)
        let fairy = try pool.connect()
        recorder.clear()
        recorder.record("-- detach --")
        fairy.detach()
        fairy.close()
        XCTAssertEqual(recorder.names, ["-- detach --", "detach", "reset", "close_detached"])
        let reset = try XCTUnwrap(recorder.events(.reset).first)
        XCTAssertFalse(reset.hadRecord)
        XCTAssertEqual(reset.resetState?.terminateOnly, true)
        XCTAssertFalse(try XCTUnwrap(recorder.events(.closeDetached).first).hadRecord)
        XCTAssertEqual(recorder.count(.detach), 1)
        XCTAssertEqual(recorder.count(of: "close_detached"), 1)

        for token in tokens { pool.events.remove(token) }
        recorder.clear()
        try pool.connect().close()
        XCTAssertEqual(recorder.names, [])
    }

    func testRecorderDoesNotKeepAFairyAlive() throws {
        let (_, pool) = try makePool()
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.checkout, .checkin])
        weak var weakFairy: ConnectionFairy<MockConnection>?
        do {
            let fairy = try pool.connect()
            weakFairy = fairy
        }
        XCTAssertNil(weakFairy)
        XCTAssertEqual(recorder.names, ["checkout", "checkin"], "returned by the fairy's deinit")
    }

    func testManualClockDrivesRecycle() throws {
        let clock = ManualClock()
        let (dbapi, pool) = try makePool(options: PoolOptions(recycle: .seconds(3), clock: clock))
        let first = try pool.connect()
        let firstID = try XCTUnwrap(first.dbapiConnection).id
        first.close()
        let again = try pool.connect()
        XCTAssertEqual(again.dbapiConnection?.id, firstID)
        again.close()
        clock.advance(by: .seconds(4))
        let recycled = try pool.connect()
        XCTAssertNotEqual(recycled.dbapiConnection?.id, firstID)
        recycled.close()
        XCTAssertEqual(dbapi.connections.count, 2)
        XCTAssertTrue(dbapi.connections[0].closed)
    }
}
