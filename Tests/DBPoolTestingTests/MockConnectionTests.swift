import DBPool
import DBPoolTesting
import Dispatch
import XCTest

final class MockConnectionTests: XCTestCase {
    func testRecordsCallsInOrder() throws {
        let conn = MockConnection()
        try conn.rollback()
        conn.cursor()
        try conn.commit()
        try conn.execute("SELECT 1")
        conn.record("specialReset(true)")
        XCTAssertTrue(try conn.ping())
        try conn.close()
        XCTAssertEqual(
            conn.calls,
            [
                "rollback()", "cursor()", "commit()", "execute(SELECT 1)", "specialReset(true)", "ping()", "close()"
            ])
        XCTAssertTrue(conn.closed)
        XCTAssertEqual(conn.closeCount, 1)
        XCTAssertEqual(conn.callsAfterClose, [])
    }

    func testIDsAreUniqueAndIncreasing() {
        let a = MockConnection(), b = MockConnection(), c = MockConnection()
        XCTAssertLessThan(a.id, b.id)
        XCTAssertLessThan(b.id, c.id)
        XCTAssertEqual("\(a)", "MockConnection#\(a.id)")
    }

    func testCloseTwiceAndCallsAfterClose() throws {
        let conn = MockConnection()
        try conn.close()
        try conn.rollback()
        try conn.close()
        XCTAssertEqual(conn.closeCount, 2)
        XCTAssertEqual(conn.callsAfterClose, ["rollback()", "close()"])
        XCTAssertEqual("\(conn)", "MockConnection#\(conn.id) (closed)")
    }

    func testResetCallsKeepsState() throws {
        let conn = MockConnection()
        conn.failCommit = .error
        try conn.close()
        conn.resetCalls()
        XCTAssertEqual(conn.calls, [])
        XCTAssertEqual(conn.callsAfterClose, [])
        XCTAssertTrue(conn.closed)
        XCTAssertEqual(conn.closeCount, 1)
        XCTAssertEqual(conn.failCommit, .error)
    }

    func testRollbackFailures() throws {
        let conn = MockConnection()
        conn.failRollback = .disconnect
        XCTAssertThrowsError(try conn.rollback()) {
            XCTAssertEqual($0 as? MockDisconnectError, MockDisconnectError("Lost the DB connection on rollback"))
        }
        conn.failRollback = .error
        XCTAssertThrowsError(try conn.rollback()) {
            XCTAssertEqual($0 as? MockError, MockError("something broke on rollback but we didn't lose the connection"))
            XCTAssertEqual("\($0)", "something broke on rollback but we didn't lose the connection")
        }
        conn.failRollback = nil
        XCTAssertNoThrow(try conn.rollback())
        XCTAssertEqual(conn.calls, ["rollback()", "rollback()", "rollback()"])
    }

    func testCommitAndExecuteFailures() {
        let conn = MockConnection()
        conn.failCommit = .disconnect
        XCTAssertThrowsError(try conn.commit()) {
            XCTAssertEqual($0 as? MockDisconnectError, MockDisconnectError("Lost the DB connection on commit"))
        }
        conn.failCommit = .error
        XCTAssertThrowsError(try conn.commit()) {
            XCTAssertEqual($0 as? MockError, MockError("something broke on commit but we didn't lose the connection"))
        }
        conn.failExecute = .disconnect
        XCTAssertThrowsError(try conn.execute("x")) {
            XCTAssertEqual($0 as? MockDisconnectError, MockDisconnectError("Lost the DB connection on execute"))
        }
        conn.failExecute = .error
        XCTAssertThrowsError(try conn.execute("x")) {
            XCTAssertEqual($0 as? MockError, MockError("something broke on execute but we didn't lose the connection"))
        }
    }

    func testFailCloseStillCloses() {
        let conn = MockConnection()
        conn.failClose = true
        XCTAssertThrowsError(try conn.close()) {
            XCTAssertEqual($0 as? MockError, MockError("something broke on close"))
        }
        XCTAssertTrue(conn.closed)
        XCTAssertEqual(conn.closeCount, 1)
        XCTAssertEqual(conn.calls, ["close()"])
    }

    func testPingSwitch() throws {
        let conn = MockConnection()
        conn.failPing = .disconnect
        XCTAssertFalse(try conn.ping())
        conn.failPing = .error
        XCTAssertThrowsError(try conn.ping()) { XCTAssertEqual($0 as? MockError, MockError("ping failed")) }
        conn.failPing = nil
        XCTAssertTrue(try conn.ping())
    }

    func testDropFailsEverythingAsDisconnectButClose() throws {
        let conn = MockConnection()
        conn.failRollback = .error
        conn.drop()
        XCTAssertTrue(conn.isDropped)
        XCTAssertThrowsError(try conn.rollback()) { XCTAssertTrue($0 is MockDisconnectError) }
        XCTAssertThrowsError(try conn.commit()) { XCTAssertTrue($0 is MockDisconnectError) }
        XCTAssertThrowsError(try conn.execute("SELECT 1")) { XCTAssertTrue($0 is MockDisconnectError) }
        XCTAssertFalse(try conn.ping())
        XCTAssertNoThrow(try conn.close())
        XCTAssertTrue(conn.closed)
    }

    func testConcurrentUseLosesNoCalls() {
        let conn = MockConnection()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in 0..<250 {
                conn.record("w\(worker)-\(i)")
                conn.failPing = (i % 2 == 0) ? .disconnect : nil
                _ = conn.closed
            }
        }
        XCTAssertEqual(conn.calls.count, 2000)
        for worker in 0..<8 {
            let mine = conn.calls.filter { $0.hasPrefix("w\(worker)-") }
            XCTAssertEqual(mine, (0..<250).map { "w\(worker)-\($0)" }, "per-thread order is kept")
        }
    }
}
