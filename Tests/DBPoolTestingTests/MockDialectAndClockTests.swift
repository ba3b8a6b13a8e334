import DBPool
import DBPoolTesting
import XCTest

final class MockDialectTests: XCTestCase {
    func testLogsAndDelegates() throws {
        let log = MockCallLog()
        let dialect = MockDialect(log: log)
        let conn = MockConnection()
        try dialect.doRollback(conn)
        try dialect.doCommit(conn)
        XCTAssertTrue(try dialect.doPing(conn))
        try dialect.doTerminate(conn)
        try dialect.doClose(conn)
        XCTAssertEqual(log.entries, ["R", "C", "P", "T", "CL"])
        XCTAssertEqual(conn.calls, ["rollback()", "commit()", "cursor()", "close()", "close()"])
        log.removeAll()
        XCTAssertEqual(log.entries, [])
    }

    func testLogEntryIsWrittenEvenWhenTheCallThrows() {
        let log = MockCallLog()
        let conn = MockConnection()
        conn.failRollback = .disconnect
        XCTAssertThrowsError(try MockDialect(log: log).doRollback(conn))
        XCTAssertEqual(log.entries, ["R"])
    }

    func testWithoutLog() throws {
        let conn = MockConnection()
        try MockDialect().doRollback(conn)
        XCTAssertEqual(conn.calls, ["rollback()"])
    }

    func testPing() throws {
        let dialect = MockDialect()
        let conn = MockConnection()
        XCTAssertTrue(try dialect.doPing(conn))
        conn.failPing = .disconnect
        XCTAssertFalse(try dialect.doPing(conn))
        conn.failPing = .error
        XCTAssertThrowsError(try dialect.doPing(conn)) {
            XCTAssertEqual($0 as? MockError, MockError("ping failed"))
            XCTAssertFalse(dialect.isDisconnect($0, connection: conn))
        }
        conn.failPing = nil
        conn.drop()
        XCTAssertFalse(try dialect.doPing(conn))
        XCTAssertEqual(conn.calls, ["cursor()", "cursor()", "cursor()", "cursor()"])
    }

    func testPingThrowsOnDisconnect() {
        let dialect = MockDialect(pingThrowsOnDisconnect: true)
        let conn = MockConnection()
        conn.failPing = .disconnect
        XCTAssertThrowsError(try dialect.doPing(conn)) {
            XCTAssertEqual($0 as? MockDisconnectError, MockDisconnectError("Lost the DB connection on ping"))
            XCTAssertTrue(dialect.isDisconnect($0, connection: conn))
        }
    }

    func testIsDisconnect() {
        let dialect = MockDialect()
        XCTAssertTrue(dialect.isDisconnect(MockDisconnectError("x"), connection: nil))
        XCTAssertFalse(dialect.isDisconnect(MockError("x"), connection: nil))
        XCTAssertFalse(dialect.isDisconnect(DisconnectionError(), connection: nil))
        XCTAssertFalse(MockDialect(recognisesDisconnects: false).isDisconnect(MockDisconnectError("x"), connection: nil))
    }
}

final class ManualClockTests: XCTestCase {
    func testStandsStillUntilAdvanced() {
        let start = ContinuousClock.now
        let clock = ManualClock(now: start)
        XCTAssertEqual(clock.now, start)
        clock.advance(by: .seconds(4))
        XCTAssertEqual(clock.now, start + .seconds(4))
        clock.advance(by: .milliseconds(-500))
        XCTAssertEqual(clock.now, start + .milliseconds(3500))
        clock.set(to: start)
        XCTAssertEqual(clock.now, start)
    }

    func testUsableAsPoolClock() {
        let clock = ManualClock()
        let options = PoolOptions(recycle: .seconds(3), clock: clock)
        let before = options.clock.now
        clock.advance(by: .seconds(1))
        XCTAssertEqual(options.clock.now - before, .seconds(1))
    }
}
