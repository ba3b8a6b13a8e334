import DBPool
import DBPoolTesting
import XCTest

/// The pre-ping tests' pool: an ``EventFixture`` of one connection with pre-ping on, whose
/// dialect may be told to miss disconnects or to throw from a failed ping.
private func pingFixture(
    poolSize: Int = 1, prePing: Bool = true, recognisesDisconnects: Bool = true, pingThrowsOnDisconnect: Bool = false
) throws -> EventFixture {
    try EventFixture(
        poolSize: poolSize, options: PoolOptions(prePing: prePing, logHandler: .disabled),
        recognisesDisconnects: recognisesDisconnects, pingThrowsOnDisconnect: pingThrowsOnDisconnect)
}

/// prePing: every checkout of a connection that is not brand new pings it first. A failed ping
/// (or a ping error the dialect calls a disconnect) replaces that connection and every older one;
/// any other ping error fails the checkout. (A brand-new connection is not pinged: EventTests.)
final class PrePingTests: XCTestCase {
    /// A connection just made by a reconnect is not pinged; the checkout after that is.
    func testNoPingOnConnectionJustMadeByReconnect() throws {
        let f = try pingFixture()
        try f.warm(1)
        let first = try f.pool.connect()
        first.invalidate()
        f.log.removeAll()

        let reconnected = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["connect", "checkout"])
        let conn = try XCTUnwrap(reconnected.dbapiConnection)
        XCTAssertEqual(conn.calls, [])
        reconnected.close()
        f.log.removeAll()

        let next = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["P", "checkout"])
        XCTAssertEqual(conn.calls, ["rollback()", "cursor()"])
        next.close()
    }

    /// Every other outermost checkout pings once, visible as one cursor() call.
    func testEveryNonFreshCheckoutPingsOnce() throws {
        let f = try pingFixture()
        for _ in 0..<3 { try f.pool.connect().close() }
        XCTAssertEqual(f.dbapi.connections.count, 1)
        XCTAssertEqual(
            f.dbapi.connections[0].calls,
            ["rollback()", "cursor()", "rollback()", "cursor()", "rollback()"])
        XCTAssertEqual(f.log.entries.filter { $0 == "P" }.count, 2)
    }

    /// A failed ping fires invalidate with DisconnectionError(invalidatePool:
    /// true), closes (terminates) the stale connection exactly once with no reset, reconnects, and
    /// checks out the new connection without pinging it.
    func testFailedPingInvalidatesClosesAndReconnects() throws {
        let f = try pingFixture()
        let old = try XCTUnwrap(f.warm(1).first)
        old.failPing = .disconnect

        let fairy = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["P", "invalidate", "close", "T", "connect", "checkout"])
        let invalidate = try XCTUnwrap(f.recorder.events(.invalidate).first)
        XCTAssertEqual(invalidate.connectionID, old.id)
        let error = try XCTUnwrap(invalidate.error as? DisconnectionError)
        XCTAssertTrue(error.invalidatePool)
        XCTAssertEqual(old.calls, ["rollback()", "cursor()", "close()"])
        XCTAssertEqual(old.closeCount, 1)
        let new = try XCTUnwrap(fairy.dbapiConnection)
        XCTAssertNotEqual(new.id, old.id)
        XCTAssertEqual(new.calls, [])
        XCTAssertEqual(f.recorder.events(.checkout).first?.connectionID, new.id)
        XCTAssertEqual(f.pool.checkedOut, 1)
        XCTAssertEqual(f.pool.checkedIn, 0)
        fairy.close()
    }

    /// A failed ping invalidates every older idle connection: they are replaced (close,
    /// terminate, connect, no ping) when next checked out, not eagerly; a connection made after the
    /// failure is kept and pinged normally.
    func testFailedPingReplacesOlderIdleConnectionsOnTheirNextCheckout() throws {
        let f = try pingFixture(poolSize: 3)
        let conns = try f.warm(3)
        f.dbapi.dropAll()

        let a = try f.pool.connect()  // conns[0] fails its ping
        XCTAssertEqual(f.log.entries, ["P", "invalidate", "close", "T", "connect", "checkout"])
        XCTAssertTrue(conns[0].closed)
        XCTAssertFalse(conns[1].closed, "older idle connections are not closed eagerly")
        XCTAssertFalse(conns[2].closed)
        let replacement = try XCTUnwrap(a.dbapiConnection)
        a.close()  // queue: conns[1], conns[2], replacement
        f.log.removeAll()

        let b = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"], "stale: replaced without a ping")
        XCTAssertTrue(conns[1].closed)
        XCTAssertEqual(conns[1].calls.filter { $0 == "cursor()" }.count, 0)
        f.log.removeAll()
        let c = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(conns[2].closed)
        f.log.removeAll()
        let d = try f.pool.connect()
        XCTAssertEqual(d.dbapiConnection?.id, replacement.id, "a connection made after the failure is kept")
        XCTAssertEqual(f.log.entries, ["P", "checkout"])
        b.close()
        c.close()
        d.close()
    }

    /// A ping that throws an error the dialect classifies as a disconnect counts as
    /// a failed ping (same sequence, same DisconnectionError(invalidatePool: true)).
    func testPingErrorClassifiedAsDisconnectCountsAsFailedPing() throws {
        let f = try pingFixture(poolSize: 2, pingThrowsOnDisconnect: true)
        let log = f.log
        let conns = try f.warm(2)
        conns[0].failPing = .disconnect

        let fairy = try f.pool.connect()
        XCTAssertEqual(log.entries, ["P", "invalidate", "close", "T", "connect", "checkout"])
        let error = try XCTUnwrap(f.recorder.events(.invalidate).first?.error as? DisconnectionError)
        XCTAssertTrue(error.invalidatePool)
        XCTAssertTrue(conns[0].closed)

        // The pool was invalidated: the other, older idle connection is replaced on checkout.
        log.removeAll()
        let other = try f.pool.connect()
        XCTAssertEqual(log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(conns[1].closed)
        fairy.close()
        other.close()
    }

    /// Any other ping error propagates unwrapped; the record is invalidated (the event carries the
    /// error, the connection is closed once) and returned; no checkout event; the pool is not invalidated.
    func testNonDisconnectPingErrorPropagatesAndReturnsInvalidatedRecord() throws {
        let f = try pingFixture(poolSize: 2)
        let conns = try f.warm(2)
        conns[0].failPing = .error

        XCTAssertThrowsError(try f.pool.connect()) { error in
            XCTAssertEqual(error as? MockError, MockError("ping failed"))
        }
        XCTAssertEqual(f.log.entries, ["P", "invalidate", "close", "T", "checkin"])
        XCTAssertEqual(f.recorder.events(.invalidate).first?.error as? MockError, MockError("ping failed"))
        XCTAssertEqual(f.recorder.events(.checkin).first?.connectionWasNil, true)
        XCTAssertEqual(conns[0].closeCount, 1)
        XCTAssertEqual(f.pool.checkedIn, 2)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertEqual(f.pool.overflow, 0)

        f.log.removeAll()
        let next = try f.pool.connect()
        XCTAssertEqual(next.dbapiConnection?.id, conns[1].id, "no pool-wide invalidation for a non-disconnect error")
        XCTAssertEqual(f.log.entries, ["P", "checkout"])
        next.close()
    }

    /// A ping error the dialect does not recognise as a disconnect propagates, even if it is
    /// a MockDisconnectError (recognisesDisconnects: false).
    func testUnrecognisedPingErrorPropagates() throws {
        let f = try pingFixture(recognisesDisconnects: false, pingThrowsOnDisconnect: true)
        let conn = try XCTUnwrap(f.warm(1).first)
        conn.failPing = .disconnect
        XCTAssertThrowsError(try f.pool.connect()) { error in
            XCTAssertEqual(error as? MockDisconnectError, MockDisconnectError("Lost the DB connection on ping"))
        }
        XCTAssertTrue(conn.closed)
        XCTAssertEqual(f.recorder.count(.checkout), 0)
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    /// Pre-ping with DefaultDialect throws PoolError.pingNotSupported on the first checkout of a
    /// connection that is not brand new; the record is invalidated (closed; the invalidate event
    /// carries the error) and returned, and its next checkout reconnects without a ping.
    func testPrePingWithDefaultDialectThrowsPingNotSupported() throws {
        let dbapi = MockDBAPI()
        let pool = try QueuePool<MockConnection>(
            poolSize: 1, maxOverflow: 0, timeout: .milliseconds(50),
            options: PoolOptions(prePing: true, logHandler: .disabled), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)
        try pool.connect().close()  // fresh: no ping
        recorder.clear()

        XCTAssertThrowsError(try pool.connect()) { error in
            XCTAssertEqual(
                (error as? PoolError)?.description,
                "The ping feature requires that a dialect is passed to the connection pool.")
            guard case .pingNotSupported? = error as? PoolError else {
                return XCTFail("expected PoolError.pingNotSupported, got \(error)")
            }
        }
        XCTAssertEqual(recorder.names, ["invalidate", "close", "checkin"])
        guard case .pingNotSupported? = recorder.events(.invalidate).first?.error as? PoolError else {
            return XCTFail("the invalidate event must carry the ping error")
        }
        XCTAssertEqual(dbapi.connections[0].calls, ["rollback()", "close()"])
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(pool.overflow, 0)

        // The record reconnects; the new connection is brand new, so it is not pinged.
        let next = try pool.connect()
        XCTAssertTrue(next.dbapiConnection === dbapi.connections.last)
        XCTAssertEqual(dbapi.connections.count, 2)
        XCTAssertEqual(next.dbapiConnection?.calls, [])
        next.close()
    }

    /// When the reconnect after a failed ping fails, the connect error propagates
    /// unwrapped, the record goes back without a connection, and the QueuePool counters
    /// (checkedIn, overflow, checkedOut) are intact. After the database is back, the next checkout
    /// reconnects (no ping: fresh).
    func testConnectErrorWhileReconnectingAfterFailedPingPropagatesCountersIntact() throws {
        let f = try pingFixture(poolSize: 2)
        try f.warm(2)
        let held = try f.pool.connect()  // conns[0] out, conns[1] idle
        f.log.removeAll()
        let before = (f.pool.checkedIn, f.pool.overflow, f.pool.checkedOut)
        XCTAssertEqual(before.0, 1)
        XCTAssertEqual(before.2, 1)
        f.dbapi.dropAll()
        f.dbapi.shutdown(true)

        XCTAssertThrowsError(try f.pool.connect()) { error in
            XCTAssertEqual(error as? MockError, MockError("connect failed"))
        }
        XCTAssertEqual(f.log.entries, ["P", "invalidate", "close", "T", "checkin"])
        XCTAssertEqual(f.recorder.events(.checkin).last?.connectionWasNil, true)
        XCTAssertEqual(f.recorder.count(.connect), 0)
        XCTAssertEqual(f.pool.checkedIn, before.0)
        XCTAssertEqual(f.pool.overflow, before.1)
        XCTAssertEqual(f.pool.checkedOut, before.2)

        f.dbapi.shutdown(false)
        f.log.removeAll()
        let again = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["connect", "checkout"])
        again.close()
        held.close()
    }
}
