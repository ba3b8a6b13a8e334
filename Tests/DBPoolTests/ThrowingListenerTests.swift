import DBPool
import DBPoolTesting
import XCTest

/// Listeners that throw. A throwing listener stops the listeners after it. A throwing connect or
/// first_connect listener fails the checkout with its error and closes the connection it
/// rejected; a throwing checkout listener fails the checkout too, unless it throws
/// DisconnectionError, which makes the pool replace the connection and try once more. Either way
/// every rejected connection is closed once and the pool's counters stay true.
final class ThrowingListenerTests: XCTestCase {
    // MARK: connect and first_connect

    /// A connect listener that throws on a new record's first connection: connect() throws the
    /// listener's error, the connection is closed once, and the slot is given back, so that
    /// QueuePool(1, 0) connects again at once when the listener is gone.
    func testConnectListenerThatThrowsOnANewConnectionGivesTheSlotBack() throws {
        let f = try EventFixture(poolSize: 1)
        let token = f.pool.events.onConnect { _, _ in throw MockError("connect listener") }
        XCTAssertThrowsError(try f.pool.connect()) { XCTAssertEqual($0 as? MockError, MockError("connect listener")) }
        XCTAssertEqual(f.dbapi.connections.map(\.closeCount), [1], "the connection the listener rejected is closed")
        XCTAssertEqual([f.pool.checkedIn, f.pool.checkedOut, f.pool.overflow, f.pool.waiting], [0, 0, -1, 0])
        f.pool.events.remove(token)
        let fairy = try f.pool.connect()
        XCTAssertTrue(fairy.isValid, "the slot was given back")
        fairy.close()
        f.pool.dispose()
        XCTAssertEqual(f.dbapi.connections.map(\.closeCount), [1, 1], "nothing leaked, nothing closed twice")
    }

    /// A connect listener that throws on the reconnect of an existing record: the listeners after
    /// it do not run, the new connection is not handed out, it is invalidated (closed) and the
    /// record returned; the error propagates unwrapped.
    func testThrowingConnectListenerStopsLaterListenersAndConnectionIsNotHandedOut() throws {
        let f = try EventFixture(poolSize: 1, attachRecorder: false)
        let fail = OnceFlag(false)
        f.pool.events.onConnect { _, _ in
            if fail.take() { throw MockError("connect listener failed") }
        }
        let after = MockCallLog()
        f.pool.events.onConnect { _, _ in after.append("second listener") }
        f.recorder.attach(to: f.pool.events)

        let first = try f.pool.connect()
        first.invalidate()
        XCTAssertEqual(after.entries, ["second listener"])
        f.log.removeAll()
        f.recorder.clear()
        after.removeAll()

        fail.arm()
        XCTAssertThrowsError(try f.pool.connect()) { error in
            XCTAssertEqual(error as? MockError, MockError("connect listener failed"))
        }
        XCTAssertEqual(after.entries, [], "listeners after the throwing one must not run")
        XCTAssertEqual(f.log.entries, ["invalidate", "close", "T", "checkin"])
        XCTAssertEqual(f.recorder.events(.invalidate).first?.error as? MockError, MockError("connect listener failed"))
        XCTAssertEqual(f.dbapi.connections.count, 2)
        XCTAssertTrue(f.dbapi.connections[1].closed)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertEqual(f.pool.overflow, 0)

        let again = try f.pool.connect()
        XCTAssertEqual(again.dbapiConnection?.id, f.dbapi.connections[2].id)
        again.close()
    }

    /// A first_connect listener that throws stops the listeners after it, the error propagates, no
    /// connect fires, the half-built connection is closed (once) and its slot given back, and
    /// first_connect runs again on the next new connection (then never again).
    func testFirstConnectIsRetriedAfterAListenerThrew() throws {
        let f = try EventFixture(attachRecorder: false)
        let flag = OnceFlag()
        let log = f.log
        f.pool.events.onFirstConnect { _, _ in
            log.append("fcA")
            if flag.take() { throw MockError("first connect failed") }
        }
        f.recorder.attach(to: f.pool.events)

        XCTAssertThrowsError(try f.pool.connect()) { error in
            XCTAssertEqual(error as? MockError, MockError("first connect failed"))
        }
        XCTAssertEqual(f.log.entries, ["fcA", "invalidate", "close", "T"])
        XCTAssertEqual(f.dbapi.connections.map(\.closeCount), [1], "the connection of the failed record must not leak")
        XCTAssertEqual(f.pool.checkedIn, 0)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertEqual(f.pool.overflow, -2)

        f.log.removeAll()
        let a = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["fcA", "first_connect", "connect", "checkout"])
        f.log.removeAll()
        let b = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["connect", "checkout"])
        a.close()
        b.close()
        f.pool.dispose()
        XCTAssertEqual(f.dbapi.connections.map(\.closeCount), [1, 1, 1], "nothing leaked, nothing closed twice")
    }

    // MARK: checkout, with an ordinary error

    /// A checkout listener that throws an ordinary error stops the later checkout listeners; the
    /// error propagates; the record is invalidated with that error (its connection closed once)
    /// and returned, and reconnects on its next checkout once the listener is gone.
    func testThrowingCheckoutListenerStopsLaterListenersAndReturnsRecord() throws {
        let f = try EventFixture(poolSize: 1, attachRecorder: false)
        f.recorder.attach(to: f.pool.events, only: [.checkout])
        let token = f.pool.events.onCheckout { _, _, _ in throw MockError("checkout listener failed") }
        let after = MockCallLog()
        f.pool.events.onCheckout { _, _, _ in after.append("later") }
        f.recorder.attach(to: f.pool.events, only: [.invalidate, .close, .checkin, .connect])

        XCTAssertThrowsError(try f.pool.connect()) { error in
            XCTAssertEqual(error as? MockError, MockError("checkout listener failed"))
        }
        XCTAssertEqual(after.entries, [])
        XCTAssertEqual(f.log.entries, ["connect", "checkout", "invalidate", "close", "T", "checkin"])
        XCTAssertEqual(f.recorder.events(.invalidate).first?.error as? MockError, MockError("checkout listener failed"))
        XCTAssertEqual(f.recorder.events(.checkin).first?.connectionWasNil, true)
        XCTAssertEqual(f.dbapi.connections.map(\.closeCount), [1])
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)

        f.pool.events.remove(token)
        f.log.removeAll()
        let fairy = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["connect", "checkout"], "the record reconnects")
        XCTAssertTrue(fairy.dbapiConnection === f.dbapi.connections.last)
        fairy.close()
    }

    // MARK: checkout, with DisconnectionError

    /// A checkout listener that throws DisconnectionError once: the connection is invalidated
    /// (invalidate, close, terminate), the record reconnects, and the second pass hands out the new
    /// connection.
    func testCheckoutListenerDisconnectionErrorOnceReconnectsAndSucceeds() throws {
        let f = try EventFixture()
        let flag = OnceFlag()
        f.pool.events.onCheckout { _, _, _ in
            if flag.take() { throw DisconnectionError() }
        }
        let fairy = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["first_connect", "connect", "checkout", "invalidate", "close", "T", "connect", "checkout"])
        XCTAssertEqual(f.dbapi.connections.map(\.closeCount), [1, 0])
        XCTAssertEqual(fairy.dbapiConnection?.id, f.dbapi.connections[1].id)
        XCTAssertTrue(f.recorder.events(.invalidate).first?.error is DisconnectionError)
        fairy.close()
    }

    /// A checkout listener that always throws DisconnectionError runs twice per connect(); the
    /// creator runs twice more; every connection is closed once; the record is returned without a
    /// connection; connect() throws PoolError.connectionClosed ("This connection is closed"); and
    /// the QueuePool counters are as before.
    func testCheckoutListenerAlwaysDisconnectingGivesUpAfterTwoAttempts() throws {
        let f = try EventFixture(poolSize: 2)
        try f.warm(1)
        let before = (f.pool.checkedIn, f.pool.overflow, f.pool.checkedOut)
        XCTAssertEqual(f.dbapi.connectCount, 1)
        let log = f.log
        f.pool.events.onCheckout { _, _, _ in
            log.append("L")
            throw DisconnectionError()
        }

        XCTAssertThrowsError(try f.pool.connect()) { error in
            guard case .connectionClosed? = error as? PoolError else {
                return XCTFail("expected PoolError.connectionClosed, got \(error)")
            }
            XCTAssertEqual("\(error)", "This connection is closed")
        }
        XCTAssertEqual(
            f.log.entries,
            [
                "checkout", "L", "invalidate", "close", "T", "connect",
                "checkout", "L", "invalidate", "close", "T", "connect",
                "invalidate", "close", "T", "checkin"
            ])
        XCTAssertEqual(f.dbapi.connectCount, 3, "the creator runs 2 extra times")
        XCTAssertEqual(f.dbapi.connections.map(\.closeCount), [1, 1, 1])
        XCTAssertEqual(f.recorder.events(.checkin).last?.connectionWasNil, true)
        XCTAssertEqual(f.pool.checkedIn, before.0)
        XCTAssertEqual(f.pool.overflow, before.1)
        XCTAssertEqual(f.pool.checkedOut, before.2)
    }

    /// A plain DisconnectionError from a checkout listener replaces only that connection; the pool
    /// is not invalidated, so another idle connection is kept.
    func testCheckoutListenerDisconnectionErrorDoesNotInvalidatePool() throws {
        let f = try EventFixture(poolSize: 2)
        let conns = try f.warm(2)
        let flag = OnceFlag()
        f.pool.events.onCheckout { _, _, _ in if flag.take() { throw DisconnectionError() } }
        let a = try f.pool.connect()
        XCTAssertTrue(conns[0].closed)
        f.log.removeAll()
        let b = try f.pool.connect()
        XCTAssertEqual(b.dbapiConnection?.id, conns[1].id)
        XCTAssertEqual(f.log.entries, ["checkout"])
        a.close()
        b.close()
    }

    /// DisconnectionError(invalidatePool: true) from a checkout listener also invalidates the
    /// other, older connections: they are replaced on their next checkout.
    func testCheckoutListenerInvalidatePoolErrorInvalidatesOlderConnections() throws {
        let f = try EventFixture(poolSize: 2)
        let conns = try f.warm(2)
        let flag = OnceFlag()
        f.pool.events.onCheckout { _, _, _ in if flag.take() { throw DisconnectionError(invalidatePool: true) } }
        let a = try f.pool.connect()
        XCTAssertTrue(conns[0].closed)
        XCTAssertFalse(conns[1].closed)
        f.log.removeAll()
        let b = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(conns[1].closed)
        a.close()
        b.close()
    }

    /// When the reconnect after a checkout listener's DisconnectionError fails, the connect error
    /// propagates, the record goes back without a connection, and the counters are intact.
    func testConnectErrorWhileReconnectingAfterCheckoutDisconnectPropagatesCountersIntact() throws {
        let f = try EventFixture(poolSize: 2)
        try f.warm(1)
        let before = (f.pool.checkedIn, f.pool.overflow, f.pool.checkedOut)
        let flag = OnceFlag()
        f.pool.events.onCheckout { _, _, _ in if flag.take() { throw DisconnectionError() } }
        f.dbapi.failNextConnects(1, with: MockDisconnectError("database is stopped"))

        XCTAssertThrowsError(try f.pool.connect()) { error in
            XCTAssertEqual(error as? MockDisconnectError, MockDisconnectError("database is stopped"))
        }
        XCTAssertEqual(f.log.entries, ["checkout", "invalidate", "close", "T", "checkin"])
        XCTAssertEqual(f.pool.checkedIn, before.0)
        XCTAssertEqual(f.pool.overflow, before.1)
        XCTAssertEqual(f.pool.checkedOut, before.2)
        let again = try f.pool.connect()
        XCTAssertTrue(again.isValid)
        again.close()
    }
}
