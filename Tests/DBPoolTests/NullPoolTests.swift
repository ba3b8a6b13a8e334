import XCTest
import DBPool
import DBPoolTesting

/// NullPool: nothing is pooled; every checkout connects and every return closes.
final class NullPoolTests: XCTestCase {
    // Three checkouts make three creator calls, each a distinct connection.
    func testEveryCheckoutCallsTheCreator() throws {
        let dbapi = MockDBAPI()
        let pool = try NullPool(dialect: MockDialect(), creator: dbapi.creator("foo.db"))
        XCTAssertEqual(dbapi.connectCount, 0, "a NullPool must not connect before the first checkout")

        var ids: [Int] = []
        for _ in 0..<3 {
            let fairy = try pool.connect()
            ids.append(try XCTUnwrap(fairy.dbapiConnection).id)
            fairy.close()
        }
        XCTAssertEqual(dbapi.connectCount, 3)
        XCTAssertEqual(dbapi.connectCalls, [["foo.db"], ["foo.db"], ["foo.db"]])
        XCTAssertEqual(Set(ids).count, 3, "each checkout must get a new connection")
        XCTAssertEqual(dbapi.openConnections.count, 0, "every return must close its connection")
    }

    // Two connections out at once are two distinct driver connections.
    func testConcurrentCheckoutsAreDistinctConnections() throws {
        let dbapi = MockDBAPI()
        let pool = try NullPool(dialect: MockDialect(), creator: dbapi.creator())
        let a = try pool.connect()
        let b = try pool.connect()
        XCTAssertNotEqual(a.dbapiConnection?.id, b.dbapiConnection?.id)
        XCTAssertEqual(dbapi.openConnections.count, 2)
        a.close()
        XCTAssertEqual(dbapi.openConnections.map(\.id), [try XCTUnwrap(b.dbapiConnection).id])
        b.close()
        XCTAssertEqual(dbapi.openConnections.count, 0)
    }

    // A return fires reset, rolls back, fires checkin, fires close, then the dialect closes.
    func testReturnEventOrderResetCheckinClose() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try NullPool(dialect: MockDialect(log: log), creator: dbapi.creator())
        let recorder = EventRecorder(log: log)
        recorder.attach(to: pool.events)

        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        XCTAssertEqual(recorder.names, ["first_connect", "connect", "checkout"])
        recorder.clear()
        log.removeAll()

        fairy.close()
        XCTAssertEqual(recorder.names, ["reset", "checkin", "close"])
        XCTAssertEqual(log.entries, ["reset", "R", "checkin", "close", "CL"])
        XCTAssertEqual(conn.calls, ["rollback()", "close()"])
        XCTAssertTrue(conn.closed)
        XCTAssertEqual(recorder.events(.checkin).first?.connectionID, conn.id)
        XCTAssertEqual(recorder.events(.close).first?.connectionID, conn.id)
        XCTAssertEqual(
            recorder.events(.reset).first?.resetState,
            PoolResetState(transactionWasReset: false, terminateOnly: false, asyncioSafe: true))
        XCTAssertNil(fairy.dbapiConnection)
        XCTAssertNil(fairy.record)
    }

    // Each checkout/return cycle is one rollback and one close for the dialect.
    func testDialectLogPerCycleIsRollbackThenClose() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try NullPool(dialect: MockDialect(log: log), creator: dbapi.creator())
        try pool.connect().close()
        try pool.connect().close()
        XCTAssertEqual(log.entries, ["R", "CL", "R", "CL"])
    }

    // With the default dialect the connection sees exactly rollback() then close().
    func testDefaultDialectCallsRollbackThenClose() throws {
        let dbapi = MockDBAPI()
        let pool = try NullPool(creator: dbapi.creator())
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        XCTAssertEqual(conn.calls, ["rollback()", "close()"])
        XCTAssertEqual(conn.callsAfterClose, [])
    }

    // dispose() does nothing; a connection out during dispose is untouched, and closed
    // normally when it comes back.
    func testDisposeDoesNothing() throws {
        let dbapi = MockDBAPI()
        let pool = try NullPool(dialect: MockDialect(), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        recorder.clear()

        pool.dispose()
        XCTAssertEqual(recorder.names, [])
        XCTAssertFalse(conn.closed)
        XCTAssertEqual(conn.calls, [])
        XCTAssertTrue(fairy.isValid)

        fairy.close()
        XCTAssertEqual(conn.calls, ["rollback()", "close()"])
        pool.dispose()
        XCTAssertEqual(dbapi.connectCount, 1)
    }

    // The status is the pool kind's name, whatever is checked out.
    func testStatus() throws {
        let pool = try NullPool(dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertEqual(pool.status(), "NullPool")
        let fairy = try pool.connect()
        XCTAssertEqual(pool.status(), "NullPool")
        fairy.close()
    }

    // recreate() copies creator, configuration and listeners; first_connect fires afresh.
    func testRecreateCopiesListenersAndConfiguration() throws {
        let dbapi = MockDBAPI()
        let options = PoolOptions(recycle: .seconds(100), resetOnReturn: .commit, prePing: true, loggingName: "np")
        let pool = try NullPool(options: options, dialect: MockDialect(), creator: dbapi.creator("foo.db"))
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)
        try pool.connect().close()
        recorder.clear()

        let second = pool.recreate()
        XCTAssertFalse(second === pool)
        XCTAssertEqual(second.options.recycle, .seconds(100))
        XCTAssertEqual(second.options.resetOnReturn, .commit)
        XCTAssertEqual(second.options.prePing, true)
        XCTAssertEqual(second.options.loggingName, "np")
        XCTAssertEqual(second.status(), "NullPool")
        XCTAssertEqual(dbapi.connectCount, 1, "recreate() must not connect")

        let fairy = try second.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        XCTAssertEqual(dbapi.connectCount, 2, "the recreated pool must use the same creator")
        XCTAssertEqual(dbapi.connectCalls.last, ["foo.db"])
        XCTAssertEqual(conn.calls, ["commit()", "close()"], "reset style must be carried over")
        XCTAssertEqual(
            recorder.names, ["first_connect", "connect", "checkout", "reset", "checkin", "close"],
            "listeners must be copied, and first_connect must fire afresh on the new pool")
    }

    // Invalidating one connection closes just it; the next checkout connects anew.
    func testInvalidateClosesThatConnectionOnly() throws {
        let dbapi = MockDBAPI()
        let pool = try NullPool(dialect: MockDialect(), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)
        let keep = try pool.connect()
        let bad = try pool.connect()
        let badConn = try XCTUnwrap(bad.dbapiConnection)
        recorder.clear()

        bad.invalidate()
        XCTAssertTrue(badConn.closed)
        XCTAssertEqual(badConn.calls, ["close()"], "no rollback on a hard invalidation")
        XCTAssertEqual(recorder.names, ["invalidate", "close", "checkin"])
        XCTAssertFalse(try XCTUnwrap(keep.dbapiConnection).closed)

        let next = try pool.connect()
        XCTAssertNotEqual(next.dbapiConnection?.id, badConn.id)
        XCTAssertEqual(dbapi.connectCount, 3)
        next.close()
        keep.close()
        XCTAssertEqual(dbapi.openConnections.count, 0)
    }
}
