import DBPool
import DBPoolTesting
import XCTest

private struct InvalidationFixture {
    let dbapi = MockDBAPI()
    let log = MockCallLog()
    let recorder: EventRecorder
    let pool: QueuePool<MockConnection>

    init(poolSize: Int = 3) throws {
        recorder = EventRecorder(log: log)
        pool = try QueuePool(
            poolSize: poolSize, maxOverflow: 0, timeout: .milliseconds(50),
            options: PoolOptions(logHandler: .disabled),
            dialect: MockDialect(log: log), creator: dbapi.creator())
        recorder.attach(to: pool.events)
    }

    func clear() {
        log.removeAll()
        recorder.clear()
    }
}

/// Invalidation of a checked-out connection: hard (closed at once, no reset), soft (replaced at
/// its record's next checkout), and pool-wide with `invalidateAll(triggeredBy:error:)`, which
/// replaces every connection older than it lazily.
final class InvalidationTests: XCTestCase {
    // MARK: Hard invalidation of a fairy

    /// A hard invalidate ends the checkout at once: invalidate (with the error and the
    /// connection), close, terminate, then checkin with no connection; no reset and no rollback.
    /// The record is back in the pool without its connection and reconnects (same record) on its
    /// next checkout.
    func testHardInvalidateEndsCheckoutAndRecordReconnectsLater() throws {
        let f = try InvalidationFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let record = try XCTUnwrap(fairy.record)
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        f.clear()

        fairy.invalidate(MockDisconnectError("gone"))
        XCTAssertEqual(f.log.entries, ["invalidate", "close", "T", "checkin"])
        XCTAssertEqual(f.recorder.events(.invalidate).first?.error as? MockDisconnectError, MockDisconnectError("gone"))
        XCTAssertEqual(f.recorder.events(.invalidate).first?.connectionID, conn.id)
        let checkin = try XCTUnwrap(f.recorder.events(.checkin).first)
        XCTAssertTrue(checkin.connectionWasNil)
        XCTAssertEqual(checkin.recordID, ObjectIdentifier(record))
        XCTAssertFalse(fairy.isValid)
        XCTAssertNil(fairy.dbapiConnection)
        XCTAssertNil(fairy.record)
        XCTAssertNil(record.dbapiConnection)
        XCTAssertEqual(conn.calls, ["close()"])
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)

        f.clear()
        let again = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["connect", "checkout"])
        XCTAssertTrue(again.record === record)
        again.close()
    }

    // MARK: Soft invalidation

    /// A soft-invalidated connection stays usable until it is returned (normal return), and
    /// the next checkout of that record reconnects with the record identity kept, info cleared and
    /// recordInfo kept.
    func testSoftInvalidationKeepsConnectionUntilReturnThenReconnectsSameRecord() throws {
        let f = try InvalidationFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let record = try XCTUnwrap(fairy.record)
        let old = try XCTUnwrap(fairy.dbapiConnection)
        fairy.info["i"] = 1
        fairy.recordInfo?["r"] = 2
        f.clear()

        fairy.invalidate(MockError("soft"), soft: true)
        XCTAssertEqual(f.log.entries, ["soft_invalidate"])
        XCTAssertEqual(f.recorder.events(.softInvalidate).first?.error as? MockError, MockError("soft"))
        XCTAssertTrue(fairy.isValid)
        XCTAssertTrue(fairy.record === record)
        XCTAssertEqual(fairy.dbapiConnection?.id, old.id)
        XCTAssertFalse(old.closed)
        try old.execute("SELECT 1")
        XCTAssertEqual(f.pool.checkedOut, 1)

        fairy.close()
        XCTAssertEqual(f.log.entries, ["soft_invalidate", "reset", "R", "checkin"])
        XCTAssertFalse(old.closed, "not closed on return")

        f.clear()
        let again = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(again.record === record)
        XCTAssertNotEqual(again.dbapiConnection?.id, old.id)
        XCTAssertEqual(old.calls, ["execute(SELECT 1)", "rollback()", "close()"])
        XCTAssertTrue(record.info.isEmpty)
        XCTAssertEqual(record.recordInfo["r"] as? Int, 2)
        again.close()

        // Only once: the next checkout keeps the new connection.
        f.clear()
        let third = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["checkout"])
        third.close()
    }

    // MARK: invalidateAll

    /// invalidateAll(triggeredBy: nil) closes nothing eagerly; every connection made
    /// before it is replaced on its next checkout, connections made afterwards are kept.
    func testInvalidateAllWithoutTriggerReplacesOlderConnectionsLazily() throws {
        let f = try InvalidationFixture(poolSize: 3)
        let a = try f.pool.connect()
        let b = try f.pool.connect()
        let (aConn, bConn) = (a.dbapiConnection!, b.dbapiConnection!)
        a.close()
        f.clear()

        f.pool.invalidateAll(triggeredBy: nil, error: nil)
        XCTAssertEqual(f.log.entries, [], "nothing is closed eagerly")
        XCTAssertFalse(aConn.closed)
        XCTAssertTrue(b.isValid, "a checked-out connection is left alone")

        let c = try f.pool.connect()  // gets a's record: stale
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(aConn.closed)
        let cConn = try XCTUnwrap(c.dbapiConnection)

        b.close()  // returned normally, still old
        XCTAssertFalse(bConn.closed)
        c.close()  // queue: b, c
        f.clear()
        let d = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(bConn.closed)
        f.clear()
        let e = try f.pool.connect()
        XCTAssertEqual(e.dbapiConnection?.id, cConn.id, "made after the invalidation: kept")
        XCTAssertEqual(f.log.entries, ["checkout"])
        d.close()
        e.close()
    }

    /// invalidateAll(triggeredBy: fairy, error:) hard-invalidates that fairy at once
    /// (invalidate carrying the error, close, terminate, checkin nil) and marks the idle ones stale
    /// without closing them.
    func testInvalidateAllWithTriggerInvalidatesThatFairyAndMarksOthersStale() throws {
        let f = try InvalidationFixture(poolSize: 2)
        let a = try f.pool.connect()
        let b = try f.pool.connect()
        let (aConn, bConn) = (a.dbapiConnection!, b.dbapiConnection!)
        b.close()
        f.clear()

        let error = MockDisconnectError("Lost the DB connection on execute")
        f.pool.invalidateAll(triggeredBy: a, error: error)
        XCTAssertEqual(f.log.entries, ["invalidate", "close", "T", "checkin"])
        XCTAssertEqual(f.recorder.events(.invalidate).first?.connectionID, aConn.id)
        XCTAssertEqual(f.recorder.events(.invalidate).first?.error as? MockDisconnectError, error)
        XCTAssertFalse(a.isValid)
        XCTAssertTrue(aConn.closed)
        XCTAssertFalse(bConn.closed)
        XCTAssertEqual(f.pool.checkedIn, 2)

        f.clear()
        let x = try f.pool.connect()  // b's record: stale → replaced
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(bConn.closed)
        f.clear()
        let y = try f.pool.connect()  // a's record: no connection → connect
        XCTAssertEqual(f.log.entries, ["connect", "checkout"])
        x.close()
        y.close()
    }

    /// A failure reported by a connection from an older generation does not move the
    /// boundary again. A1, A2 old; invalidateAll(A1) → B made after; invalidateAll(triggeredBy: A2)
    /// invalidates A2 itself but must not make B stale.
    func testFailureFromOlderGenerationDoesNotMoveTheBoundaryAgain() throws {
        let f = try InvalidationFixture(poolSize: 3)
        let a1 = try f.pool.connect()
        let a2 = try f.pool.connect()
        let a2Conn = try XCTUnwrap(a2.dbapiConnection)

        f.pool.invalidateAll(triggeredBy: a1, error: nil)
        let b = try f.pool.connect()  // a1's record reconnects: B, after the boundary
        let bConn = try XCTUnwrap(b.dbapiConnection)
        b.close()
        f.clear()

        f.pool.invalidateAll(triggeredBy: a2, error: MockDisconnectError("late report"))
        XCTAssertEqual(f.log.entries, ["invalidate", "close", "T", "checkin"], "the reporting fairy is still invalidated")
        XCTAssertTrue(a2Conn.closed)
        XCTAssertFalse(bConn.closed)

        f.clear()
        let again = try f.pool.connect()
        XCTAssertEqual(again.dbapiConnection?.id, bConn.id, "B must survive a report from an older connection")
        XCTAssertEqual(f.log.entries, ["checkout"])
        XCTAssertFalse(bConn.closed)
        again.close()
    }

    /// A failure reported by a connection of the current generation does move
    /// the boundary, so other current connections are replaced.
    func testFailureFromCurrentGenerationMovesTheBoundary() throws {
        let f = try InvalidationFixture(poolSize: 3)
        let a = try f.pool.connect()
        f.pool.invalidateAll(triggeredBy: a, error: nil)
        let b1 = try f.pool.connect()
        let b2 = try f.pool.connect()
        let b2Conn = try XCTUnwrap(b2.dbapiConnection)
        b2.close()
        f.clear()

        f.pool.invalidateAll(triggeredBy: b1, error: nil)
        XCTAssertEqual(f.log.entries, ["invalidate", "close", "T", "checkin"])
        f.clear()
        let next = try f.pool.connect()  // b2's record (queued first): stale now
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(b2Conn.closed)
        next.close()
    }

    /// invalidateAll with an already-closed fairy as trigger does not touch it again (no
    /// warning path, no second checkin) but still marks the pool.
    func testInvalidateAllWithClosedTriggerOnlyMovesTheBoundary() throws {
        let f = try InvalidationFixture(poolSize: 1)
        let a = try f.pool.connect()
        let aConn = try XCTUnwrap(a.dbapiConnection)
        a.close()
        f.clear()
        f.pool.invalidateAll(triggeredBy: a, error: nil)
        XCTAssertEqual(f.log.entries, [])
        XCTAssertEqual(f.pool.checkedIn, 1)
        let next = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(aConn.closed)
        next.close()
    }
}
