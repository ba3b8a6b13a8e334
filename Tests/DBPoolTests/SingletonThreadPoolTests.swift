import XCTest
import DBPool
import DBPoolTesting
import Dispatch
import Foundation
import Synchronization

/// SingletonThreadPool: one record per thread, nested checkouts reuse the thread's fairy, at most
/// `poolSize` thread records.
final class SingletonThreadPoolTests: XCTestCase {
    // MARK: Per-thread identity

    // A nested connect() on the same thread returns the same fairy, with no second checkout
    // event and no ping; only the outermost close resets, and closing it again does nothing.
    func testNestedConnectReturnsSameFairyWithoutCheckoutOrPing() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try SingletonThreadPool(
            options: PoolOptions(prePing: true), dialect: MockDialect(log: log), creator: dbapi.creator())
        EventRecorder(log: log).attach(to: pool.events)

        // The first checkout is fresh, so it is not pinged; make the connection non-fresh.
        try pool.connect().close()
        log.removeAll()

        let outer = try pool.connect()
        let conn = try XCTUnwrap(outer.dbapiConnection)
        XCTAssertEqual(log.entries, ["P", "checkout"])
        let inner = try pool.connect()
        XCTAssertTrue(inner === outer, "a nested connect() must return the thread's current fairy")
        let innermost = try pool.connect()
        XCTAssertTrue(innermost === outer)
        XCTAssertEqual(log.entries, ["P", "checkout"], "nested checkouts fire no checkout event and no ping")

        innermost.close()
        inner.close()
        XCTAssertEqual(log.entries, ["P", "checkout"], "a nested close must not reset or check in")
        XCTAssertTrue(outer.isValid)
        XCTAssertEqual(outer.dbapiConnection?.id, conn.id)
        XCTAssertEqual(conn.calls.filter { $0 == "rollback()" }.count, 1)

        outer.close()
        XCTAssertEqual(log.entries, ["P", "checkout", "reset", "R", "checkin"])
        XCTAssertFalse(outer.isValid)
        XCTAssertEqual(conn.calls.filter { $0 == "rollback()" }.count, 2)
        outer.close()
        XCTAssertEqual(log.entries, ["P", "checkout", "reset", "R", "checkin"], "a second outermost close does nothing")
        XCTAssertFalse(conn.closed, "the record stays bound to the thread")

        // After the outermost close, the next connect() is a new checkout of the same record.
        let again = try pool.connect()
        XCTAssertFalse(again === outer)
        XCTAssertEqual(again.dbapiConnection?.id, conn.id)
        again.close()
        XCTAssertEqual(dbapi.connectCount, 1)
    }

    // A fairy dropped without close() is returned by its deinit and forgotten as the
    // thread's current fairy, so the next connect() is a fresh checkout of the thread's record.
    func testDroppedFairyIsForgottenByItsThread() throws {
        let dbapi = MockDBAPI()
        let pool = try SingletonThreadPool(
            options: PoolOptions(logHandler: .disabled), dialect: MockDialect(), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.checkout, .reset, .checkin])
        do { _ = try pool.connect() }
        XCTAssertEqual(recorder.names, ["checkout", "reset", "checkin"])

        let fairy = try pool.connect()
        XCTAssertTrue(fairy.isValid)
        XCTAssertEqual(recorder.names, ["checkout", "reset", "checkin", "checkout"], "a new checkout, not a nested one")
        fairy.close()
        XCTAssertEqual(recorder.count(.checkin), 2)
        XCTAssertEqual(dbapi.connectCount, 1)
    }

    // After a hard invalidation, the thread's next connect() is a new checkout of its record,
    // which reconnects.
    func testInvalidatedFairyIsForgottenByItsThread() throws {
        let dbapi = MockDBAPI()
        let pool = try SingletonThreadPool(dialect: MockDialect(), creator: dbapi.creator())
        let first = try pool.connect()
        let oldConn = try XCTUnwrap(first.dbapiConnection)
        first.invalidate()
        XCTAssertTrue(oldConn.closed)
        let next = try pool.connect()
        XCTAssertFalse(next === first)
        XCTAssertNotEqual(next.dbapiConnection?.id, oldConn.id)
        next.close()
        XCTAssertEqual(dbapi.connectCount, 2)
    }

    /// As SQLAlchemy's `_do_return_conn`: a detach gives the record back and forgets the fairy
    /// as the thread's current one, so the thread's next connect() is a new checkout of its
    /// record (which reconnects), not the detached fairy; closing the detached fairy later closes
    /// only its own connection.
    func testDetachedFairyIsForgottenByItsThread() throws {
        let dbapi = MockDBAPI()
        let pool = try SingletonThreadPool(dialect: MockDialect(), creator: dbapi.creator())
        let detached = try pool.connect()
        let detachedConn = try XCTUnwrap(detached.dbapiConnection)
        detached.detach()
        XCTAssertEqual(pool.statistics.inUse, 0, "a detached connection is no longer the pool's")

        let next = try pool.connect()
        XCTAssertFalse(next === detached)
        XCTAssertNotEqual(next.dbapiConnection?.id, detachedConn.id)
        XCTAssertEqual(dbapi.connectCount, 2)
        detached.close()
        XCTAssertTrue(detachedConn.closed)
        XCTAssertTrue(next.isValid)
        next.close()
        XCTAssertEqual(pool.statistics.inUse, 0)
    }

    // Different threads get different connections; each thread keeps its own.
    func testDifferentThreadsGetDifferentConnections() throws {
        let dbapi = MockDBAPI()
        let pool = try SingletonThreadPool(poolSize: 5, dialect: MockDialect(), creator: dbapi.creator())
        let w1 = WorkerThread(), w2 = WorkerThread()
        defer { w1.stop(); w2.stop() }

        let f1 = try w1.run { try pool.connect() }
        let f2 = try w2.run { try pool.connect() }
        let id1 = try XCTUnwrap(f1.dbapiConnection).id
        let id2 = try XCTUnwrap(f2.dbapiConnection).id
        XCTAssertNotEqual(id1, id2)
        XCTAssertFalse(f1 === f2)

        // While f1 is out, a connect() on w1 is nested and returns f1 itself.
        let nestedIsSame = try w1.run { () throws -> Bool in
            let f = try pool.connect()
            defer { f.close() }
            return f === f1
        }
        XCTAssertTrue(nestedIsSame)
        XCTAssertTrue(f1.isValid, "the nested close must not end the outer checkout")

        try w1.run { f1.close() }
        try w2.run { f2.close() }

        // Each thread gets its own connection back.
        let again1 = try w1.run { () throws -> Int? in
            let f = try pool.connect()
            defer { f.close() }
            return f.dbapiConnection?.id
        }
        let again2 = try w2.run { () throws -> Int? in
            let f = try pool.connect()
            defer { f.close() }
            return f.dbapiConnection?.id
        }
        XCTAssertEqual(again1, id1)
        XCTAssertEqual(again2, id2)
        XCTAssertEqual(dbapi.connectCount, 2)
        XCTAssertTrue(try statusMatches(pool, size: 2))
    }

    // A new thread arriving at capacity closes another thread's record, whose
    // next checkout reconnects; the number of records never exceeds poolSize.
    func testThreadArrivingAtCapacityClosesAnotherThreadsRecord() throws {
        let dbapi = MockDBAPI()
        let pool = try SingletonThreadPool(poolSize: 2, dialect: MockDialect(), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.close])
        let w1 = WorkerThread(), w2 = WorkerThread(), w3 = WorkerThread()
        defer { w1.stop(); w2.stop(); w3.stop() }
        let cycle: @Sendable () throws -> Int = {
            let f = try pool.connect()
            defer { f.close() }
            return f.dbapiConnection!.id
        }

        let id1 = try w1.run(cycle)
        let id2 = try w2.run(cycle)
        XCTAssertTrue(try statusMatches(pool, size: 2))
        XCTAssertEqual(recorder.count(.close), 0)
        let conn1 = dbapi.connections[0], conn2 = dbapi.connections[1]
        XCTAssertEqual([conn1.id, conn2.id], [id1, id2])

        let id3 = try w3.run(cycle)
        XCTAssertNotEqual(id3, id1)
        XCTAssertNotEqual(id3, id2)
        XCTAssertTrue(try statusMatches(pool, size: 2), "records must stay at poolSize")
        XCTAssertEqual([conn1.closed, conn2.closed].filter { $0 }.count, 1, "exactly one other thread's record is closed")
        XCTAssertEqual(recorder.count(.close), 1)

        let (victim, victimConn) = conn1.closed ? (w1, conn1) : (w2, conn2)
        XCTAssertEqual(recorder.events(.close).first?.connectionID, victimConn.id)
        XCTAssertEqual(victimConn.calls, ["rollback()", "close()"])

        let reconnected = try victim.run(cycle)
        XCTAssertNotEqual(reconnected, victimConn.id, "the victim thread must get a new connection")
        XCTAssertEqual(dbapi.connectCount, 4)
        XCTAssertTrue(try statusMatches(pool, size: 2))
        XCTAssertEqual(victimConn.closeCount, 1)
    }

    // The capacity cleanup closes another thread's record even while it is checked out; that
    // thread's fairy still closes without crashing and its next checkout reconnects.
    func testCapacityCleanupClosesRecordInUse() throws {
        let dbapi = MockDBAPI()
        let pool = try SingletonThreadPool(poolSize: 1, dialect: MockDialect(), creator: dbapi.creator())
        let w1 = WorkerThread(), w2 = WorkerThread()
        defer { w1.stop(); w2.stop() }

        let held = try w1.run { try pool.connect() }
        let heldConn = try XCTUnwrap(held.dbapiConnection)
        let other = try w2.run { () throws -> Int in
            let f = try pool.connect()
            defer { f.close() }
            return f.dbapiConnection!.id
        }
        XCTAssertNotEqual(other, heldConn.id)
        XCTAssertTrue(heldConn.closed, "the arriving thread closes the other record even in use")
        XCTAssertTrue(try statusMatches(pool, size: 1))

        try w1.run { held.close() }
        let next = try w1.run { () throws -> Int in
            let f = try pool.connect()
            defer { f.close() }
            return f.dbapiConnection!.id
        }
        XCTAssertNotEqual(next, heldConn.id)
        XCTAssertNotEqual(next, other)
        XCTAssertEqual(dbapi.connectCount, 3)
        XCTAssertTrue(try statusMatches(pool, size: 1))
    }

    // MARK: Status, dispose, recreate

    // The status reads "SingletonThreadPool id:<n> size: <records>"; the id identifies the pool.
    func testStatusFormat() throws {
        let pool = try SingletonThreadPool(poolSize: 3, dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertTrue(try statusMatches(pool, size: 0), pool.status())
        let fairy = try pool.connect()
        XCTAssertTrue(try statusMatches(pool, size: 1), pool.status())
        fairy.close()
        XCTAssertTrue(try statusMatches(pool, size: 1), "the record stays after the return: \(pool.status())")

        let otherPool = try SingletonThreadPool(poolSize: 3, dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertNotEqual(poolID(pool), poolID(otherPool), "the id identifies the pool object")
        XCTAssertEqual(poolID(pool), poolID(pool))
        pool.dispose()
        XCTAssertTrue(try statusMatches(pool, size: 0), pool.status())
    }

    // dispose closes every thread's record; each thread then reconnects.
    func testDisposeClosesAllRecords() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try SingletonThreadPool(poolSize: 5, dialect: MockDialect(log: log), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.close])
        let w1 = WorkerThread(), w2 = WorkerThread()
        defer { w1.stop(); w2.stop() }
        let cycle: @Sendable () throws -> Int = {
            let f = try pool.connect()
            defer { f.close() }
            return f.dbapiConnection!.id
        }
        let id1 = try w1.run(cycle)
        _ = try w2.run(cycle)
        XCTAssertTrue(try statusMatches(pool, size: 2))
        XCTAssertEqual(dbapi.openConnections.count, 2)

        pool.dispose()
        XCTAssertEqual(dbapi.openConnections.count, 0)
        XCTAssertEqual(recorder.count(.close), 2)
        XCTAssertEqual(log.entries, ["R", "R", "CL", "CL"])
        XCTAssertTrue(try statusMatches(pool, size: 0))

        let again = try w1.run(cycle)
        XCTAssertNotEqual(again, id1)
        XCTAssertEqual(dbapi.connectCount, 3)
    }

    // A connection checked out before dispose() and returned after it: dispose closed it while
    // it was out, the late return leaves it alone and only fires checkin, and the thread's next
    // connect() reconnects.
    func testConnectionReturnedAfterDisposeIsHarmless() throws {
        let dbapi = MockDBAPI()
        let pool = try SingletonThreadPool(options: PoolOptions(logHandler: .disabled), dialect: MockDialect(), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)
        let out = try pool.connect()
        pool.dispose()
        XCTAssertEqual(dbapi.connections.map(\.closeCount), [1], "dispose closes the thread's connection even while it is out")
        recorder.clear()
        out.close()
        XCTAssertEqual(recorder.names, ["checkin"], "the late return only checks in")
        XCTAssertEqual(dbapi.connections[0].callsAfterClose, [], "no reset of a connection dispose() closed")
        let next = try pool.connect()
        XCTAssertTrue(next.isValid)
        XCTAssertNotEqual(next.dbapiConnection?.id, dbapi.connections[0].id)
        next.close()
        pool.dispose()
        XCTAssertEqual(dbapi.connections.map(\.closeCount), [1, 1], "nothing leaked, nothing closed twice")
    }

    // recreate keeps poolSize, configuration and listeners.
    func testRecreateKeepsSizeConfigurationAndListeners() throws {
        let dbapi = MockDBAPI()
        let pool = try SingletonThreadPool(
            poolSize: 3, options: PoolOptions(resetOnReturn: .commit, loggingName: "stp"),
            dialect: MockDialect(), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.checkout])
        let second = pool.recreate()
        XCTAssertEqual(second.size, 3)
        XCTAssertEqual(second.options.loggingName, "stp")
        XCTAssertTrue(try statusMatches(second, size: 0))
        let fairy = try second.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        XCTAssertEqual(conn.calls, ["commit()"])
        XCTAssertEqual(recorder.count(.checkout), 1)
        XCTAssertEqual(dbapi.connectCount, 1)
    }

    // MARK: Unsupported and invalid use

    // Not async compatible: the async connect() throws PoolError.unsupported.
    func testAsyncConnectThrowsUnsupported() async throws {
        let dbapi = MockDBAPI()
        let pool = try SingletonThreadPool(dialect: MockDialect(), creator: dbapi.creator())
        do {
            let fairy = try await pool.connect()
            await fairy.closeAndWait()
            XCTFail("the async connect() must throw")
        } catch let error as PoolError {
            guard case .unsupported = error else { return XCTFail("expected .unsupported, got \(error)") }
        }
        do {
            try await pool.withConnection { (_: ConnectionFairy<MockConnection>) async throws in
                XCTFail("the body must not run")
            }
            XCTFail("the async withConnection must throw")
        } catch let error as PoolError {
            guard case .unsupported = error else { return XCTFail("expected .unsupported, got \(error)") }
        }
        XCTAssertEqual(dbapi.connectCount, 0)
    }

    // MARK: Helpers

    private func statusMatches<C>(_ pool: SingletonThreadPool<C>, size: Int) throws -> Bool {
        let regex = try Regex("^SingletonThreadPool id:[0-9]+ size: \(size)$")
        return pool.status().wholeMatch(of: regex) != nil
    }

    private func poolID<C>(_ pool: SingletonThreadPool<C>) -> Substring? {
        let status = pool.status()
        guard let start = status.range(of: "id:"), let end = status.range(of: " size:") else { return nil }
        return status[start.upperBound..<end.lowerBound]
    }
}
