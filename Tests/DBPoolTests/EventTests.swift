import DBPool
import DBPoolTesting
import XCTest

// Spec §3: the event catalogue, the ordering sequences of §3.2 (#1–#12, events interleaved with
// the dialect calls "R", "C", "CL", "T", "P" through one shared MockCallLog), and the listener
// registration rules of §3.3.

final class EventTests: XCTestCase {
    // MARK: §3.2 ordering sequences

    /// §3.2 #1 (PP-01): creator → first_connect → connect → [no ping: fresh] → checkout.
    func testCheckoutThatCreatesARecordFiresFirstConnectConnectCheckoutWithoutPing() throws {
        let f = try EventFixture(options: PoolOptions(prePing: true, logHandler: .disabled))
        let fairy = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["first_connect", "connect", "checkout"])
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        XCTAssertEqual(conn.calls, [], "a fresh connection must not be pinged")
        XCTAssertEqual(f.dbapi.connectCalls, [["foo.db"]])

        // Event arguments: the same connection, record and fairy throughout.
        let events = f.recorder.events
        let recordID = ObjectIdentifier(try XCTUnwrap(fairy.record))
        XCTAssertEqual(events.map(\.connectionID), [conn.id, conn.id, conn.id])
        XCTAssertEqual(events.map(\.recordID), [recordID, recordID, recordID])
        XCTAssertEqual(f.recorder.events(.checkout).first?.fairyID, ObjectIdentifier(fairy))
        fairy.close()
    }

    /// §3.2 #2: a healthy idle record is pinged (one `cursor()`), then `checkout`.
    func testCheckoutOfHealthyIdleRecordPingsThenFiresCheckout() throws {
        let f = try EventFixture(options: PoolOptions(prePing: true, logHandler: .disabled))
        let first = try f.pool.connect()
        let conn = try XCTUnwrap(first.dbapiConnection)
        first.close()
        f.log.removeAll()

        let second = try f.pool.connect()
        XCTAssertEqual(second.dbapiConnection?.id, conn.id)
        XCTAssertEqual(f.log.entries, ["P", "checkout"])
        XCTAssertEqual(conn.calls, ["rollback()", "cursor()"])
        second.close()
    }

    /// §3.2 #3 + Appendix A.7: recycle fires close(old) → terminate → connect(new) → checkout,
    /// with no invalidate event and no ping of the new (fresh) connection.
    func testRecycleOnCheckoutFiresCloseTerminateConnectCheckout() throws {
        let clock = ManualClock()
        let f = try EventFixture(options: PoolOptions(recycle: .seconds(30), prePing: true, clock: clock, logHandler: .disabled))
        let first = try f.pool.connect()
        let old = try XCTUnwrap(first.dbapiConnection)
        first.close()
        f.log.removeAll()

        clock.advance(by: .seconds(31))
        let second = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertEqual(f.recorder.count(.invalidate), 0)
        XCTAssertEqual(f.recorder.events(.close).last?.connectionID, old.id)
        XCTAssertNotEqual(second.dbapiConnection?.id, old.id)
        XCTAssertEqual(f.recorder.events(.connect).last?.connectionID, second.dbapiConnection?.id)
        second.close()
    }

    /// §3.2 #4: an idle record without a connection reconnects: connect → checkout, no close.
    func testCheckoutOfRecordWithoutConnectionFiresConnectThenCheckout() throws {
        let f = try EventFixture()
        let first = try f.pool.connect()
        first.invalidate()
        f.log.removeAll()

        let second = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["connect", "checkout"])
        XCTAssertEqual(f.dbapi.connections.count, 2)
        second.close()
    }

    /// §3.2 #5 (PP-08): failed ping → invalidate(old) → close(old) → terminate → connect(new) →
    /// checkout; no second ping, no reset of the dead connection.
    func testFailedPrePingSequence() throws {
        let f = try EventFixture(options: PoolOptions(prePing: true, logHandler: .disabled))
        let first = try f.pool.connect()
        let old = try XCTUnwrap(first.dbapiConnection)
        first.close()
        old.drop()
        f.log.removeAll()

        let second = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["P", "invalidate", "close", "T", "connect", "checkout"])
        XCTAssertEqual(f.recorder.events(.invalidate).first?.connectionID, old.id)
        XCTAssertEqual(second.dbapiConnection?.calls, [])
        second.close()
    }

    /// §3.2 #7: normal return: reset → rollback → checkin, the record goes back idle.
    func testNormalReturnFiresResetRollbackCheckin() throws {
        let f = try EventFixture()
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        f.log.removeAll()
        fairy.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "checkin"])
        XCTAssertEqual(f.recorder.events(.checkin).first?.connectionID, conn.id)
        XCTAssertEqual(
            f.recorder.events(.reset).first?.resetState,
            PoolResetState(transactionWasReset: false, terminateOnly: false, asyncioSafe: true))
        XCTAssertEqual(conn.calls, ["rollback()"])
        XCTAssertFalse(conn.closed)
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    /// §3.2 #7 + Appendix A.6: an overflow connection returned to a full queue fires close after checkin.
    func testOverflowReturnFiresCloseAfterCheckin() throws {
        let f = try EventFixture(poolSize: 1, maxOverflow: 1)
        let a = try f.pool.connect()
        let b = try f.pool.connect()
        f.log.removeAll()
        a.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "checkin"])
        f.log.removeAll()
        let bConn = try XCTUnwrap(b.dbapiConnection)
        b.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "checkin", "close", "CL"])
        XCTAssertEqual(bConn.calls, ["rollback()", "close()"])
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.overflow, 0)
    }

    /// §3.2 #7 + Appendix A.5 (PD-04): NullPool return: reset → R → checkin → close → CL.
    func testNullPoolReturnFiresResetCheckinClose() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try NullPool(options: PoolOptions(logHandler: .disabled), dialect: MockDialect(log: log), creator: dbapi.creator())
        EventRecorder(log: log).attach(to: pool.events)
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        log.removeAll()
        fairy.close()
        XCTAssertEqual(log.entries, ["reset", "R", "checkin", "close", "CL"])
        XCTAssertEqual(conn.calls, ["rollback()", "close()"])
    }

    /// §3.2 #8 + Appendix A.8: hard invalidate: invalidate → close → terminate → checkin(nil); no reset.
    func testHardInvalidateFiresInvalidateCloseCheckinNil() throws {
        let f = try EventFixture()
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        f.log.removeAll()
        let error = MockError("boom")
        fairy.invalidate(error)
        XCTAssertEqual(f.log.entries, ["invalidate", "close", "T", "checkin"])
        XCTAssertEqual(f.recorder.events(.invalidate).first?.error as? MockError, error)
        XCTAssertEqual(f.recorder.events(.invalidate).first?.connectionID, conn.id)
        XCTAssertEqual(f.recorder.events(.checkin).first?.connectionWasNil, true)
        XCTAssertEqual(conn.calls, ["close()"])
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
    }

    /// §3.2 #9: soft invalidate fires only soft_invalidate; the return is normal; the next checkout
    /// of that record follows the recycle sequence.
    func testSoftInvalidateSequence() throws {
        let f = try EventFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let old = try XCTUnwrap(fairy.dbapiConnection)
        f.log.removeAll()
        fairy.invalidate(soft: true)
        XCTAssertEqual(f.log.entries, ["soft_invalidate"])
        XCTAssertFalse(old.closed)
        XCTAssertTrue(fairy.isValid)
        fairy.close()
        XCTAssertEqual(f.log.entries, ["soft_invalidate", "reset", "R", "checkin"])
        f.log.removeAll()
        let again = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertEqual(f.recorder.count(.invalidate), 0)
        XCTAssertEqual(old.calls, ["rollback()", "close()"])
        again.close()
    }

    /// §3.2 #12: dispose closes each idle record (close → CL); checked-out ones are untouched and
    /// pooled normally when they come back.
    func testDisposeClosesIdleRecordsOnly() throws {
        let f = try EventFixture(poolSize: 3)
        let a = try f.pool.connect()
        let b = try f.pool.connect()
        let c = try f.pool.connect()
        let (aConn, bConn, cConn) = (a.dbapiConnection!, b.dbapiConnection!, c.dbapiConnection!)
        a.close()
        b.close()
        f.log.removeAll()
        f.pool.dispose()
        XCTAssertEqual(f.log.entries, ["close", "CL", "close", "CL"])
        XCTAssertEqual(Set(f.recorder.events(.close).compactMap(\.connectionID)), [aConn.id, bConn.id])
        XCTAssertTrue(aConn.closed)
        XCTAssertTrue(bConn.closed)
        XCTAssertFalse(cConn.closed)
        f.log.removeAll()
        c.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "checkin"])
        XCTAssertFalse(cConn.closed)
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    // MARK: §3.3 registration rules

    /// PE-09: listeners fire in registration order; `prepend: true` puts one first.
    func testListenersFireInRegistrationOrderAndPrependGoesFirst() throws {
        let f = try EventFixture(attachRecorder: false)
        let order = MockCallLog()
        f.pool.events.onConnect { _, _ in order.append("A") }
        f.pool.events.onConnect { _, _ in order.append("B") }
        f.pool.events.onConnect(prepend: true) { _, _ in order.append("C") }
        f.pool.events.onConnect(prepend: true) { _, _ in order.append("D") }
        try f.pool.connect().close()
        XCTAssertEqual(order.entries, ["D", "C", "A", "B"])
    }

    /// Removal by token: only that listener stops; removing it again does nothing.
    func testRemovingAListenerByTokenStopsOnlyThatListener() throws {
        let f = try EventFixture(attachRecorder: false)
        let order = MockCallLog()
        f.pool.events.onCheckin { _, _ in order.append("A") }
        let tokenB = f.pool.events.onCheckin { _, _ in order.append("B") }
        f.pool.events.onCheckin { _, _ in order.append("C") }
        try f.pool.connect().close()
        XCTAssertEqual(order.entries, ["A", "B", "C"])
        f.pool.events.remove(tokenB)
        f.pool.events.remove(tokenB)
        order.removeAll()
        try f.pool.connect().close()
        XCTAssertEqual(order.entries, ["A", "C"])
    }

    /// Removing every token the recorder registered silences it completely, and removing the last
    /// checkout listener lets checkout skip the checkout logic.
    func testRemovingAllRecorderTokensSilencesRecorder() throws {
        let f = try EventFixture(attachRecorder: false)
        let tokens = f.recorder.attach(to: f.pool.events)
        XCTAssertEqual(tokens.count, 10)
        try f.pool.connect().close()
        XCTAssertEqual(f.recorder.names, ["first_connect", "connect", "checkout", "reset", "checkin"])
        for token in tokens { f.pool.events.remove(token) }
        f.log.removeAll()
        let fairy = try f.pool.connect()
        fairy.invalidate()
        try f.pool.connect().close()
        XCTAssertEqual(f.log.entries, ["T", "R"], "no event names: only dialect calls remain")
    }

    /// PE-06, PE-07, PE-11, PE-15: recreate() copies the listeners registered at that moment (not
    /// later ones, and later removals on the old pool do not affect the copy), and the new pool
    /// runs first_connect again.
    func testRecreateCopiesListenersButNotRunOnceState() throws {
        let f = try EventFixture()
        let marks = MockCallLog()
        let token = f.pool.events.onCheckout { _, _, _ in marks.append("copied") }
        try f.pool.connect().close()
        XCTAssertEqual(f.recorder.names, ["first_connect", "connect", "checkout", "reset", "checkin"])

        let newPool = f.pool.recreate()
        XCTAssertEqual(f.dbapi.connections.count, 1, "recreate() must not connect")
        f.pool.events.onCheckout { _, _, _ in marks.append("added-to-old-after-recreate") }
        f.pool.events.remove(token)
        f.recorder.clear()
        marks.removeAll()

        let fairy = try newPool.connect()
        XCTAssertEqual(f.recorder.names, ["first_connect", "connect", "checkout"])
        XCTAssertEqual(marks.entries, ["copied"])
        XCTAssertEqual(f.dbapi.connections.count, 2)
        fairy.close()

        // And first_connect still does not run again on the old pool.
        f.recorder.clear()
        let a = try f.pool.connect()
        let b = try f.pool.connect()
        XCTAssertEqual(f.recorder.count(.firstConnect), 0)
        a.close()
        b.close()
    }

    /// §3.1: first_connect runs once per pool instance, before the first connect; connect runs for
    /// every new connection.
    func testFirstConnectRunsOncePerPoolConnectForEveryNewConnection() throws {
        let f = try EventFixture(poolSize: 3)
        let a = try f.pool.connect()
        let b = try f.pool.connect()
        a.invalidate()
        let c = try f.pool.connect()
        XCTAssertEqual(
            f.recorder.names,
            [
                "first_connect", "connect", "checkout",
                "connect", "checkout",
                "invalidate", "close", "checkin",
                "connect", "checkout"
            ])
        XCTAssertEqual(f.recorder.events(.firstConnect).first?.connectionID, f.dbapi.connections[0].id)
        b.close()
        c.close()
    }
}
