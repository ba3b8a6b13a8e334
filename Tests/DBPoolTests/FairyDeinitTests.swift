import DBPool
import DBPoolTesting
import XCTest

/// A ConnectionFairy dropped without close(): its deinit returns the connection (or, detached,
/// closes it) with a warning naming where it was checked out; a fairy already closed or
/// invalidated returns nothing a second time.
final class FairyDeinitTests: XCTestCase {
    /// Checks a connection out and drops it at once; returns the line of the checkout.
    private func checkOutAndDrop(_ pool: QueuePool<MockConnection>) throws -> UInt {
        let line: UInt = #line + 1
        _ = try pool.connect()
        return line
    }

    /// A fairy dropped without close() is returned by its deinit: one reset + rollback + checkin,
    /// the record is idle again, and a warning naming the file and line of the checkout is logged.
    func testDroppedFairyIsReturnedByDeinitWithAWarning() throws {
        let f = try FairyFixture(poolSize: 1)
        let line = try checkOutAndDrop(f.pool)
        XCTAssertEqual(f.log.entries, ["first_connect", "connect", "checkout", "reset", "R", "checkin"])
        XCTAssertEqual(f.dbapi.connections[0].calls, ["rollback()"])
        XCTAssertFalse(f.dbapi.connections[0].closed)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        let warnings = f.logs.texts(at: .warning)
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.contains("dropped without close()") ?? false, "\(warnings)")
        XCTAssertTrue(warnings.first?.contains("FairyDeinitTests.swift:\(line)") ?? false, "\(warnings)")

        // The pool of size 1 can hand the connection out again at once.
        let again = try f.pool.connect()
        XCTAssertEqual(again.dbapiConnection?.id, f.dbapi.connections[0].id)
        again.close()
    }

    /// A fairy dropped after close() does not return anything a second time, and logs nothing.
    func testClosedFairyDeinitDoesNothing() throws {
        let f = try FairyFixture(poolSize: 1)
        do {
            let fairy = try f.pool.connect()
            fairy.close()
        }
        XCTAssertEqual(f.recorder.count(.checkin), 1)
        XCTAssertEqual(f.recorder.count(.reset), 1)
        XCTAssertEqual(f.logs.texts(at: .warning), [])
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    /// A hard-invalidated fairy that is dropped does not return anything a second time.
    func testInvalidatedFairyDeinitDoesNothing() throws {
        let f = try FairyFixture(poolSize: 1)
        do {
            let fairy = try f.pool.connect()
            fairy.invalidate()
        }
        XCTAssertEqual(f.recorder.count(.checkin), 1)
        XCTAssertEqual(f.recorder.count(.reset), 0)
        XCTAssertEqual(f.logs.texts(at: .warning), [])
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    private func detachAndDrop(_ pool: QueuePool<MockConnection>) throws -> MockConnection {
        let fairy = try pool.connect()
        fairy.detach()
        return fairy.dbapiConnection!
    }

    /// A detached fairy dropped without close() closes its connection in deinit (reset with
    /// terminateOnly, rollback, close_detached, close) with a warning, so nothing leaks; no checkin.
    func testDroppedDetachedFairyClosesItsConnection() throws {
        let f = try FairyFixture(poolSize: 1)
        let conn = try detachAndDrop(f.pool)
        XCTAssertEqual(f.log.entries, ["first_connect", "connect", "checkout", "detach", "reset", "R", "close_detached", "CL"])
        XCTAssertTrue(conn.closed)
        XCTAssertEqual(f.recorder.count(.checkin), 0)
        XCTAssertEqual(f.logs.texts(at: .warning).count, 1)
    }
}
