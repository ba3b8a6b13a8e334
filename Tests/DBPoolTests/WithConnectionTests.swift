import DBPool
import DBPoolTesting
import XCTest

// `withConnection`, scoped use with the disconnect handling of SQLAlchemy's Engine: the
// connection always goes back, even when the body throws; a body error the dialect recognises as
// a disconnect invalidates the connection and the pool (older connections are replaced) before it
// is rethrown; any other error just returns the connection. Sync and async forms.

private struct ScopedFixture {
    let dbapi = MockDBAPI()
    let log = MockCallLog()
    let recorder: EventRecorder
    let pool: QueuePool<MockConnection>

    init(poolSize: Int = 2, recognisesDisconnects: Bool = true) throws {
        recorder = EventRecorder(log: log)
        pool = try QueuePool(
            poolSize: poolSize, maxOverflow: 0, timeout: .milliseconds(50),
            options: PoolOptions(logHandler: .disabled),
            dialect: MockDialect(log: log, recognisesDisconnects: recognisesDisconnects), creator: dbapi.creator())
        recorder.attach(to: pool.events)
    }

    /// Two idle connections, both made before anything fails; the queue holds them oldest first.
    func warm() throws -> (MockConnection, MockConnection) {
        let a = try pool.connect()
        let b = try pool.connect()
        let conns = (a.dbapiConnection!, b.dbapiConnection!)
        a.close()
        b.close()
        log.removeAll()
        recorder.clear()
        return conns
    }
}

final class WithConnectionTests: XCTestCase {
    // MARK: Blocking form

    /// The body's value is returned and the connection is returned (reset, rollback, checkin).
    func testSyncWithConnectionReturnsValueAndConnection() throws {
        let f = try ScopedFixture()
        let (a, _) = try f.warm()
        let id = try f.pool.withConnection { fairy -> Int in
            XCTAssertTrue(fairy.isValid)
            return fairy.id
        }
        XCTAssertEqual(id, a.id)
        XCTAssertEqual(f.log.entries, ["checkout", "reset", "R", "checkin"])
        XCTAssertEqual(f.pool.checkedIn, 2)
        XCTAssertEqual(f.pool.checkedOut, 0)
    }

    /// A body that throws an ordinary error: the connection is returned normally (not
    /// invalidated), the pool is not invalidated, and the same error is rethrown.
    func testSyncNonDisconnectErrorJustReturnsTheConnection() throws {
        let f = try ScopedFixture()
        let (a, b) = try f.warm()
        a.failExecute = .error
        XCTAssertThrowsError(try f.pool.withConnection { fairy in try fairy.dbapiConnection!.execute("SELECT 1") }) { error in
            XCTAssertEqual(error as? MockError, MockError("something broke on execute but we didn't lose the connection"))
        }
        XCTAssertEqual(f.log.entries, ["checkout", "reset", "R", "checkin"])
        XCTAssertFalse(a.closed)
        XCTAssertEqual(f.pool.checkedIn, 2)
        XCTAssertEqual(f.pool.checkedOut, 0)

        // Nothing was invalidated: both connections are reused as they are.
        f.log.removeAll()
        let x = try f.pool.connect()
        let y = try f.pool.connect()
        XCTAssertEqual(Set([x.dbapiConnection!.id, y.dbapiConnection!.id]), [a.id, b.id])
        XCTAssertEqual(f.log.entries, ["checkout", "checkout"])
        x.close()
        y.close()
    }

    /// A disconnect error from the body invalidates that connection (invalidate
    /// carrying the error, close, terminate, checkin nil) and the pool, then is rethrown; the
    /// other, older idle connection is replaced on its next checkout, not eagerly.
    func testSyncDisconnectErrorInvalidatesConnectionAndPoolThenRethrows() throws {
        let f = try ScopedFixture()
        let (a, b) = try f.warm()
        a.failExecute = .disconnect
        XCTAssertThrowsError(try f.pool.withConnection { fairy in try fairy.dbapiConnection!.execute("SELECT 1") }) { error in
            XCTAssertEqual(error as? MockDisconnectError, MockDisconnectError("Lost the DB connection on execute"))
        }
        XCTAssertEqual(f.log.entries, ["checkout", "invalidate", "close", "T", "checkin"])
        XCTAssertEqual(
            f.recorder.events(.invalidate).first?.error as? MockDisconnectError,
            MockDisconnectError("Lost the DB connection on execute"))
        XCTAssertEqual(f.recorder.events(.checkin).first?.connectionWasNil, true)
        XCTAssertTrue(a.closed)
        XCTAssertEqual(
            a.calls, ["rollback()", "execute(SELECT 1)", "close()"],
            "only warm()'s rollback: an invalidated connection is not reset")
        XCTAssertFalse(b.closed, "older idle connections are not closed eagerly")
        XCTAssertEqual(f.pool.checkedIn, 2)
        XCTAssertEqual(f.pool.checkedOut, 0)

        f.log.removeAll()
        let next = try f.pool.connect()  // b's record: older than the failure
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(b.closed)
        next.close()
    }

    /// With a dialect that does not recognise the error as a disconnect, it is an ordinary error.
    func testSyncUnrecognisedDisconnectIsAnOrdinaryError() throws {
        let f = try ScopedFixture(recognisesDisconnects: false)
        let (a, _) = try f.warm()
        a.failExecute = .disconnect
        XCTAssertThrowsError(try f.pool.withConnection { fairy in try fairy.dbapiConnection!.execute("SELECT 1") })
        XCTAssertEqual(f.log.entries, ["checkout", "reset", "R", "checkin"])
        XCTAssertFalse(a.closed)
    }

    /// A body that invalidates the fairy itself: withConnection's close afterwards is a no-op.
    func testSyncBodyThatInvalidatesTheFairyIsNotReturnedTwice() throws {
        let f = try ScopedFixture()
        _ = try f.warm()
        try f.pool.withConnection { fairy in fairy.invalidate() }
        XCTAssertEqual(f.log.entries, ["checkout", "invalidate", "close", "T", "checkin"])
        XCTAssertEqual(f.recorder.count(.checkin), 1)
        XCTAssertEqual(f.pool.checkedIn, 2)
    }

    // MARK: Async form

    /// Async: the body's value is returned and the connection is returned.
    func testAsyncWithConnectionReturnsValueAndConnection() async throws {
        let f = try ScopedFixture()
        let (a, _) = try f.warm()
        let id = try await f.pool.withConnection { fairy async throws -> Int in
            await Task.yield()
            return fairy.id
        }
        XCTAssertEqual(id, a.id)
        XCTAssertEqual(f.log.entries, ["checkout", "reset", "R", "checkin"])
        XCTAssertEqual(f.pool.checkedIn, 2)
        XCTAssertEqual(f.pool.checkedOut, 0)
    }

    /// Async: an ordinary error is rethrown and the connection returned normally.
    func testAsyncNonDisconnectErrorJustReturnsTheConnection() async throws {
        let f = try ScopedFixture()
        let (a, _) = try f.warm()
        a.failExecute = .error
        do {
            try await f.pool.withConnection { fairy async throws in
                await Task.yield()
                try fairy.dbapiConnection!.execute("SELECT 1")
            }
            XCTFail("expected the body's error")
        } catch {
            XCTAssertEqual(error as? MockError, MockError("something broke on execute but we didn't lose the connection"))
        }
        XCTAssertEqual(f.log.entries, ["checkout", "reset", "R", "checkin"])
        XCTAssertFalse(a.closed)
        XCTAssertEqual(f.pool.checkedIn, 2)
        XCTAssertEqual(f.pool.checkedOut, 0)
    }

    /// Async: a disconnect error invalidates the connection and the pool before it is rethrown.
    func testAsyncDisconnectErrorInvalidatesConnectionAndPoolThenRethrows() async throws {
        let f = try ScopedFixture()
        let (a, b) = try f.warm()
        a.failExecute = .disconnect
        do {
            try await f.pool.withConnection { fairy async throws in
                await Task.yield()
                try fairy.dbapiConnection!.execute("SELECT 1")
            }
            XCTFail("expected the body's error")
        } catch {
            XCTAssertEqual(error as? MockDisconnectError, MockDisconnectError("Lost the DB connection on execute"))
        }
        XCTAssertEqual(f.log.entries, ["checkout", "invalidate", "close", "T", "checkin"])
        XCTAssertTrue(a.closed)
        XCTAssertFalse(b.closed)
        XCTAssertEqual(f.pool.checkedIn, 2)
        XCTAssertEqual(f.pool.checkedOut, 0)

        f.log.removeAll()
        let next = try await f.pool.connect()
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(b.closed)
        await next.closeAndWait()
    }

    /// Async: a task cancelled while the body runs still returns the connection; the
    /// CancellationError is not a disconnect, so nothing is invalidated.
    func testAsyncCancelledBodyStillReturnsTheConnection() async throws {
        let f = try ScopedFixture()
        _ = try f.warm()
        let pool = f.pool
        let task = Task {
            try await pool.withConnection { _ async throws in
                while !Task.isCancelled { await Task.yield() }
                try Task.checkCancellation()
            }
        }
        task.cancel()
        let result = await task.result
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertEqual(f.pool.checkedIn, 2)
        XCTAssertEqual(f.recorder.count(.checkout), f.recorder.count(.checkin))
        XCTAssertEqual(f.recorder.count(.invalidate), 0)
        XCTAssertTrue(f.dbapi.connections.allSatisfy { !$0.closed })
    }

    /// Async with a synchronous body: the async overload is chosen and still returns the connection.
    func testAsyncWithSynchronousBodyReturnsConnection() async throws {
        let f = try ScopedFixture()
        _ = try f.warm()
        let valid = try await f.pool.withConnection { fairy in fairy.isValid }
        XCTAssertTrue(valid)
        XCTAssertEqual(f.log.entries, ["checkout", "reset", "R", "checkin"])
        XCTAssertEqual(f.pool.checkedOut, 0)
    }
}
