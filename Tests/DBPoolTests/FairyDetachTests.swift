import DBPool
import DBPoolTesting
import XCTest

/// ConnectionFairy.detach(): the fairy keeps its driver connection and leaves the pool, which
/// gets the record back without it; closing the detached fairy resets and closes the connection,
/// whatever the reset did.
final class FairyDetachTests: XCTestCase {
    /// detach fires only `detach`, with the fairy's connection and its record (no reset, no
    /// checkin); the record goes back to the pool without its connection; the fairy keeps the
    /// connection, which still works, and reads through it; and QueuePool(1, 0) can hand out a
    /// second connection at once.
    func testDetachRequeuesRecordWithoutConnectionAndFreesTheSlot() throws {
        let f = try FairyFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        let record = try XCTUnwrap(fairy.record)
        f.log.removeAll()

        fairy.detach()
        XCTAssertEqual(f.log.entries, ["detach"])
        let detach = try XCTUnwrap(f.recorder.events(.detach).first)
        XCTAssertEqual(detach.connectionID, conn.id)
        XCTAssertEqual(detach.recordID, ObjectIdentifier(record))
        XCTAssertEqual(conn.calls, [])
        XCTAssertFalse(conn.closed)
        XCTAssertTrue(fairy.isValid)
        XCTAssertTrue(fairy.isDetached)
        XCTAssertNil(fairy.record)
        XCTAssertEqual(fairy.dbapiConnection?.id, conn.id)
        XCTAssertEqual(fairy.id, conn.id, "the connection's properties still read through")
        XCTAssertNoThrow(try fairy.dbapiConnection?.execute("select 1"), "and it still works")
        XCTAssertNil(record.dbapiConnection)
        XCTAssertFalse(record.inUse)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertEqual(f.pool.overflow, 0)

        f.log.removeAll()
        let second = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["connect", "checkout"])
        XCTAssertTrue(second.record === record)
        XCTAssertNotEqual(second.dbapiConnection?.id, conn.id)
        second.close()
        fairy.close()
        f.pool.dispose()
        XCTAssertEqual(f.dbapi.connections.map(\.closeCount), [1, 1], "nothing leaked, nothing closed twice")
    }

    /// Closing a detached fairy fires reset (terminateOnly, no record), runs the reset action,
    /// fires close_detached with the connection, then closes it; no checkin; the pool is
    /// untouched. A second close does nothing.
    func testClosingDetachedFairyResetsThenClosesWithoutCheckin() throws {
        let f = try FairyFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.detach()
        f.log.removeAll()

        fairy.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "close_detached", "CL"])
        let reset = try XCTUnwrap(f.recorder.events(.reset).first)
        XCTAssertEqual(reset.resetState, PoolResetState(transactionWasReset: false, terminateOnly: true, asyncioSafe: true))
        XCTAssertNil(reset.recordID)
        XCTAssertEqual(reset.connectionID, conn.id)
        XCTAssertEqual(f.recorder.events(.closeDetached).first?.connectionID, conn.id)
        XCTAssertEqual(conn.calls, ["rollback()", "close()"])
        XCTAssertTrue(conn.closed)
        XCTAssertFalse(fairy.isValid)
        XCTAssertEqual(f.recorder.count(.checkin), 0)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertEqual(f.pool.overflow, 0)

        f.log.removeAll()
        fairy.close()
        XCTAssertEqual(f.log.entries, [], "a second close of the detached fairy does nothing")
        XCTAssertEqual(conn.closeCount, 1)
    }

    /// With `.commit`, the detached close commits instead of rolling back.
    func testClosingDetachedFairyInCommitModeCommits() throws {
        let f = try FairyFixture(poolSize: 1, resetOnReturn: .commit)
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.detach()
        f.log.removeAll()
        fairy.close()
        XCTAssertEqual(f.log.entries, ["reset", "C", "close_detached", "CL"])
        XCTAssertEqual(conn.calls, ["commit()", "close()"])
    }

    /// When the reset of a detached fairy fails (the rollback throws an error or a disconnect),
    /// the failure is logged and the connection is still closed, once. Before a fix, the failed
    /// reset skipped close_detached and the close, and the driver connection leaked.
    func testDetachedConnectionWhoseResetFailsIsStillClosed() throws {
        for kind in [MockFailure.error, .disconnect] {
            let f = try FairyFixture(poolSize: 1)
            let fairy = try f.pool.connect()
            let connection = try XCTUnwrap(fairy.dbapiConnection)
            fairy.detach()
            connection.failRollback = kind
            fairy.close()
            XCTAssertTrue(f.logs.texts(at: .error).contains("Exception during reset or similar"), "\(kind): the failure is logged")
            XCTAssertEqual(connection.closeCount, 1, "\(kind): a detached connection whose reset failed must still be closed")
            XCTAssertFalse(fairy.isValid)
            f.pool.dispose()
            XCTAssertEqual(f.dbapi.connections.map(\.closeCount), [1], "\(kind)")
        }
    }

    /// Calling detach() again does nothing: one detach event, the record is not requeued twice.
    func testDetachTwiceIsANoOp() throws {
        let f = try FairyFixture(poolSize: 2)
        let fairy = try f.pool.connect()
        fairy.detach()
        fairy.detach()
        XCTAssertEqual(f.recorder.count(.detach), 1)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertTrue(fairy.isValid)
        fairy.close()
        XCTAssertEqual(f.recorder.count(.closeDetached), 1)
    }

    /// Detach of a closed fairy does nothing.
    func testDetachAfterCloseIsANoOp() throws {
        let f = try FairyFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        fairy.close()
        f.log.removeAll()
        fairy.detach()
        XCTAssertEqual(f.log.entries, [])
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertFalse(f.dbapi.connections[0].closed)
        let again = try f.pool.connect()
        XCTAssertEqual(again.dbapiConnection?.id, f.dbapi.connections[0].id, "the record kept its connection")
        again.close()
    }

    /// After detach, info is a private copy (changes do not cross), recordInfo is nil, and the
    /// freed record reconnects with info cleared and recordInfo kept.
    func testInfoIsACopyAfterDetachAndRecordInfoIsNil() throws {
        let f = try FairyFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let record = try XCTUnwrap(fairy.record)
        fairy.info["k"] = "before"
        fairy.recordInfo?["r"] = 9
        fairy.detach()

        XCTAssertTrue(fairy.isDetached)
        XCTAssertNil(fairy.recordInfo)
        XCTAssertEqual(fairy.info["k"] as? String, "before")
        fairy.info["k"] = "after"
        XCTAssertEqual(record.info["k"] as? String, "before", "the detached fairy's info is a copy")
        record.info["other"] = true
        XCTAssertNil(fairy.info["other"])

        let next = try f.pool.connect()
        XCTAssertTrue(next.record === record)
        XCTAssertTrue(record.info.isEmpty, "the freed record reconnects, clearing info")
        XCTAssertEqual(record.recordInfo["r"] as? Int, 9)
        XCTAssertEqual(fairy.info["k"] as? String, "after")
        next.close()
        fairy.close()
    }
}
