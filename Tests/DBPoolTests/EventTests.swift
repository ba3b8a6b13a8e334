import DBPool
import DBPoolTesting
import XCTest

/// The pool's events: what a checkout that creates a record fires and with which arguments,
/// first_connect's once-per-pool rule, and how listeners are registered, ordered, removed and
/// copied by recreate(). The events each other operation fires are tested with that operation
/// (FairyTests, FairyDetachTests, InvalidationTests, ResetTests, RecordTests, PrePingTests,
/// QueuePoolTests, the pool kinds' tests); listeners that throw, in ThrowingListenerTests.
final class EventTests: XCTestCase {
    // MARK: Firing

    /// A checkout that creates a record runs the creator, then fires first_connect, connect and
    /// checkout, all with the same connection and record; a brand-new connection is not pinged,
    /// even with prePing.
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

    /// first_connect runs once per pool instance, before the first connect; connect runs for every
    /// new connection.
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

    // MARK: Registration

    /// Listeners fire in registration order; `prepend: true` puts one first.
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

    /// recreate() copies the listeners registered at that moment (not later ones, and later
    /// removals on the old pool do not affect the copy), and the new pool runs first_connect again.
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
}
