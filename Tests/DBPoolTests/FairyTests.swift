import DBPool
import DBPoolTesting
import XCTest

/// ConnectionFairy, the caller's handle on a checked-out connection: valid until it is closed,
/// deaf to a second close() or a late invalidate(), reused by QueuePool once closed and let go of,
/// sharing info and recordInfo with its record, and reading the driver connection's members
/// through. Detach and deinit have their own files (FairyDetachTests, FairyDeinitTests).
final class FairyTests: XCTestCase {
    // MARK: Validity and close

    /// Valid while checked out; after close() the fairy has neither connection nor record.
    func testFairyIsValidUntilClosedThenDropsConnectionAndRecord() throws {
        let f = try FairyFixture()
        let fairy = try f.pool.connect()
        XCTAssertTrue(fairy.isValid)
        XCTAssertNotNil(fairy.dbapiConnection)
        XCTAssertNotNil(fairy.record)
        XCTAssertFalse(fairy.isDetached)
        fairy.close()
        XCTAssertFalse(fairy.isValid)
        XCTAssertNil(fairy.dbapiConnection)
        XCTAssertNil(fairy.record)
    }

    /// A second close(), or close(transactionWasReset:) after close(), does nothing: no event, no
    /// driver call, no log message at any level, no second reset or checkin. The pool counts the
    /// record once and hands its connection to one holder at a time.
    func testSecondCloseIsANoOp() throws {
        let f = try FairyFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        f.log.removeAll()
        f.logs.removeAll()
        fairy.close()
        fairy.close(transactionWasReset: true)
        XCTAssertEqual(f.log.entries, [], "no event and no dialect call")
        XCTAssertEqual(f.logs.texts, [], "no log message at any level")
        XCTAssertEqual(conn.calls, ["rollback()"], "the connection was reset once")
        XCTAssertFalse(fairy.isValid)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertEqual(f.recorder.count(.checkin), 1)

        // Pooled once: QueuePool(1, 0) hands the connection to the next checkout, and a second
        // checkout at the same time waits and times out.
        let again = try f.pool.connect()
        XCTAssertTrue(again.dbapiConnection === conn)
        XCTAssertThrowsError(try f.pool.connect()) { error in
            guard case .timeout? = error as? PoolError else { return XCTFail("expected a timeout, got \(error)") }
        }
        again.close()
        f.pool.dispose()
        XCTAssertEqual(f.dbapi.connections.map(\.closeCount), [1], "nothing leaked, nothing closed twice")
    }

    /// A stale second close() must not touch the record after it has been checked out again by
    /// another fairy.
    func testStaleCloseDoesNotAffectTheNextHolderOfTheRecord() throws {
        let f = try FairyFixture(poolSize: 1)
        let first = try f.pool.connect()
        first.close()
        let second = try f.pool.connect()
        let record = try XCTUnwrap(second.record)
        f.log.removeAll()
        first.close()
        first.invalidate()
        XCTAssertEqual(f.log.entries, [])
        XCTAssertTrue(second.isValid)
        XCTAssertTrue(record.inUse)
        XCTAssertEqual(f.pool.checkedOut, 1)
        XCTAssertEqual(f.pool.checkedIn, 0)
        second.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "checkin"])
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    // MARK: A late invalidate()

    /// invalidate(), hard or soft, on a closed fairy logs a warning each time and does nothing
    /// else: no event, no driver call; the pooled connection stays open and is reused.
    func testInvalidateAfterCloseWarnsAndDoesNothing() throws {
        let f = try FairyFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        f.log.removeAll()
        fairy.invalidate(MockError("late"))
        fairy.invalidate(soft: true)
        XCTAssertEqual(f.log.entries, [])
        XCTAssertFalse(conn.closed)
        XCTAssertEqual(conn.calls, ["rollback()"])
        let warning = "Can't invalidate an already-closed connection."
        XCTAssertEqual(f.logs.texts(atLeast: .warning), [warning, warning])
        XCTAssertEqual(f.logs.texts(at: .warning), [warning, warning])
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)

        let next = try f.pool.connect()
        XCTAssertTrue(next.dbapiConnection === conn, "the next checkout reuses the connection")
        next.close()
    }

    /// A second hard invalidate() logs the same warning and does nothing else: one invalidate
    /// event, one checkin, the connection closed once.
    func testInvalidateTwiceWarnsAndClosesOnce() throws {
        let f = try FairyFixture()
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.invalidate()
        XCTAssertEqual(f.logs.texts(atLeast: .warning), [], "the first invalidate warns about nothing")
        XCTAssertEqual(f.recorder.count(.invalidate), 1)
        f.log.removeAll()

        fairy.invalidate()
        XCTAssertEqual(f.log.entries, [], "no second invalidate, close or checkin")
        XCTAssertEqual(f.logs.texts(atLeast: .warning), ["Can't invalidate an already-closed connection."])
        XCTAssertEqual(f.recorder.count(.checkin), 1)
        XCTAssertEqual(conn.closeCount, 1)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
    }

    /// After a hard invalidate the checkout is over; a later close() is a no-op.
    func testCloseAfterHardInvalidateIsANoOp() throws {
        let f = try FairyFixture()
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.invalidate()
        XCTAssertFalse(fairy.isValid)
        XCTAssertNil(fairy.record)
        f.log.removeAll()
        fairy.close()
        XCTAssertEqual(f.log.entries, [])
        XCTAssertEqual(conn.calls, ["close()"])
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    // MARK: Reuse (QueuePool keeps a closed fairy for its record's next checkout)

    /// A fairy that was closed and let go of serves the record's next checkout: in steady state
    /// a QueuePool checkout allocates nothing. The reused fairy behaves as a new one.
    func testClosedAndReleasedFairyIsReusedByTheNextCheckout() throws {
        let f = try FairyFixture(poolSize: 1)
        weak var released: ConnectionFairy<MockConnection>?
        do {
            let first = try f.pool.connect()
            first.info["k"] = "v"
            first.close()
            released = first
        }
        // The pool keeps it (no caller holds it now), so the weak reference is still set.
        XCTAssertNotNil(released)
        let line: UInt = #line + 1
        let second = try f.pool.connect()
        XCTAssertTrue(second === released)
        XCTAssertTrue(second.isValid)
        XCTAssertNotNil(second.record)
        XCTAssertEqual(second.checkoutSite?.line, line)
        XCTAssertEqual(f.pool.checkedOut, 1)
        second.close()
        second.close()
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertEqual(f.recorder.count(.checkin), 2)
    }

    /// A fairy the caller still holds after close() is never reused: the next checkout gets a
    /// new fairy, and the stale one stays closed.
    func testClosedFairyStillHeldIsNotReused() throws {
        let f = try FairyFixture(poolSize: 1)
        let first = try f.pool.connect()
        first.close()
        let second = try f.pool.connect()
        XCTAssertFalse(first === second)
        XCTAssertFalse(first.isValid)
        XCTAssertTrue(second.isValid)
        first.close()
        XCTAssertTrue(second.isValid)
        XCTAssertEqual(f.pool.checkedOut, 1)
        second.close()
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    // MARK: info / recordInfo

    /// fairy.info is the record's info (writes go both ways, and survive a return of the same
    /// connection); recordInfo is the record's recordInfo.
    func testInfoAndRecordInfoAreTheRecords() throws {
        let f = try FairyFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let record = try XCTUnwrap(fairy.record)
        fairy.info["fromFairy"] = 1
        record.info["fromRecord"] = 2
        XCTAssertEqual(record.info["fromFairy"] as? Int, 1)
        XCTAssertEqual(fairy.info["fromRecord"] as? Int, 2)
        fairy.recordInfo?["slot"] = "a"
        XCTAssertEqual(record.recordInfo["slot"] as? String, "a")
        XCTAssertEqual(fairy.recordInfo?["slot"] as? String, "a")
        fairy.close()

        let again = try f.pool.connect()
        XCTAssertEqual(again.info["fromFairy"] as? Int, 1)
        XCTAssertEqual(again.recordInfo?["slot"] as? String, "a")
        again.close()
    }

    // MARK: Dynamic member lookup

    /// Properties of the driver connection are reachable on the fairy.
    func testDynamicMemberLookupReadsDriverConnectionProperties() throws {
        let f = try FairyFixture()
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        XCTAssertEqual(fairy.id, conn.id)
        XCTAssertFalse(fairy.closed)
        XCTAssertEqual(fairy.calls, [])
        try conn.execute("SELECT 1")
        XCTAssertEqual(fairy.calls, ["execute(SELECT 1)"])
        XCTAssertEqual(fairy.description, conn.description)
        fairy.close()
    }

    /// The fairy remembers where it was checked out.
    func testCheckoutSiteIsTheCallersFileAndLine() throws {
        let f = try FairyFixture()
        let line: UInt = #line + 1
        let fairy = try f.pool.connect()
        XCTAssertEqual(fairy.checkoutSite?.line, line)
        XCTAssertEqual(fairy.checkoutSite?.fileID.description.hasSuffix("FairyTests.swift"), true)
        fairy.close()
    }
}
