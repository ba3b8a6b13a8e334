import XCTest
import Foundation
import DBPool
import DBPoolTesting

/// QueuePool: the accounting of its counters and status, waiting and timeouts, the order in which
/// idle connections and waiters are served, dispose, recreate, and failed connects.
final class QueuePoolTests: XCTestCase {
    private func makePool(
        _ size: Int, _ overflow: Int, timeout: Duration? = .seconds(5), lifo: Bool = false,
        dbapi: MockDBAPI = MockDBAPI(), options: PoolOptions = quietOptions
    ) throws -> QueuePool<MockConnection> {
        try QueuePool(
            poolSize: size, maxOverflow: overflow, timeout: timeout, useLIFO: lifo,
            options: options, dialect: MockDialect(), creator: dbapi.creator())
    }

    // The status before, during and after six checkouts from QueuePool(3, 3); the three overflow
    // connections are closed on return.
    func testOverflowAccountingAndStatus() throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(3, 3, dbapi: dbapi)
        XCTAssertEqual(pool.status(), "Pool size: 3  Connections in pool: 0 Current Overflow: -3 Current Checked out connections: 0")
        let fairies = try (0..<6).map { _ in try pool.connect() }
        XCTAssertEqual(pool.status(), "Pool size: 3  Connections in pool: 0 Current Overflow: 3 Current Checked out connections: 6")
        XCTAssertEqual(pool.overflow, 3)
        XCTAssertEqual(pool.checkedOut, 6)
        for fairy in fairies { fairy.close() }
        XCTAssertEqual(pool.checkedIn, 3)
        XCTAssertEqual(pool.overflow, 0)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(dbapi.connections.filter(\.closed).count, 3, "the three overflow connections are closed on return")
        XCTAssertEqual(pool.status(), "Pool size: 3  Connections in pool: 3 Current Overflow: 0 Current Checked out connections: 0")
    }

    // A failing creator gives its slot back; nothing is queued.
    func testFailedCreatorRestoresOverflow() throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(1, 1, dbapi: dbapi)
        let held = try pool.connect()
        dbapi.failNextConnects(1)
        XCTAssertThrowsError(try pool.connect()) { XCTAssertEqual($0 as? MockError, MockError("connect failed")) }
        XCTAssertEqual(pool.overflow, 0)
        XCTAssertEqual(pool.checkedOut, 1)
        XCTAssertEqual(pool.checkedIn, 0)
        let second = try pool.connect()
        XCTAssertEqual(pool.overflow, 1)
        second.close()
        held.close()
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertEqual(pool.overflow, 0)
    }

    // The creator runs outside the pool's lock, so a slow connect does not stall others.
    func testCreatorRunsOutsideTheLock() throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(2, 0, dbapi: dbapi)
        try pool.connect().close()  // one idle record
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let held = try pool.connect()  // takes the idle record
        dbapi.beforeConnect = { _ in
            entered.signal(); release.wait()
        }
        let slow = Harness.spawn { _ = try? pool.connect() }
        XCTAssertEqual(entered.wait(timeout: .now() + 10), .success)
        // While the creator is blocked, returning and re-taking the idle record must not wait.
        held.close()
        let again = try pool.connect()
        XCTAssertEqual(pool.checkedOut, 2)
        release.signal()
        dbapi.beforeConnect = nil
        XCTAssertTrue(slow.finished())
        again.close()
    }

    // A subsecond timeout is kept exactly, and the message gives it with the pool's state.
    func testSubsecondTimeout() throws {
        let pool = try makePool(1, 0, timeout: .milliseconds(50))
        let held = try pool.connect()
        let start = ContinuousClock.now
        XCTAssertThrowsError(try pool.connect()) { error in
            XCTAssertEqual(
                (error as? PoolError)?.description,
                "QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 0.05 (checked out 1, idle 0, waiting 0, connecting 0; every connection is in use)")
        }
        let elapsed = ContinuousClock.now - start
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(45))
        XCTAssertLessThan(elapsed, .seconds(2))
        XCTAssertEqual(pool.waiting, 0, "a timed-out waiter leaves the queue")
        held.close()
        XCTAssertEqual(pool.checkedIn, 1)
    }

    func testZeroTimeoutFailsAtOnceWhenFull() throws {
        let pool = try makePool(1, 0, timeout: .zero)
        let held = try pool.connect()
        XCTAssertThrowsError(try pool.connect()) {
            XCTAssertEqual(
                ($0 as? PoolError)?.description,
                "QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 0.00 (checked out 1, idle 0, waiting 0, connecting 0; every connection is in use)")
        }
        held.close()
        try pool.connect().close()
    }

    // A blocked checkout is woken by a hard invalidation, whose record reconnects for it. (Woken
    // by a return: testWaitersAreServedInArrivalOrderAcrossKinds.)
    func testWaiterIsWokenByReturnAndByInvalidation() throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(1, 0, timeout: nil, dbapi: dbapi)
        let held = try pool.connect()
        let got = Guarded<Int?>(nil)
        let waiter = Harness.spawn {
            let fairy = try? pool.connect()
            got.update { $0 = fairy?.dbapiConnection?.id }
            fairy?.close()
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 1 })
        held.invalidate()
        XCTAssertTrue(waiter.finished())
        XCTAssertNotNil(got.value)
        XCTAssertEqual(dbapi.connections.count, 2, "the invalidated record reconnected for the waiter")
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    // poolSize 0 means no limit at all, and overflow reads 0.
    func testPoolSizeZeroIsUnlimited() throws {
        let pool = try makePool(0, 3)
        XCTAssertEqual(pool.maxOverflow, -1)
        let fairies = try (0..<20).map { _ in try pool.connect() }
        XCTAssertEqual(pool.overflow, 0)
        XCTAssertEqual(pool.checkedOut, 20)
        fairies.forEach { $0.close() }
        XCTAssertEqual(pool.checkedIn, 20)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    func testUnlimitedOverflow() throws {
        let pool = try makePool(2, -1)
        let fairies = try (0..<10).map { _ in try pool.connect() }
        XCTAssertEqual(pool.overflow, 8)
        fairies.forEach { $0.close() }
        XCTAssertEqual(pool.checkedIn, 2)
        XCTAssertEqual(pool.overflow, 0)
    }

    // A connection returned to a full pool is closed: reset, rollback, checkin, then close and the
    // dialect's close. A return to a pool with room closes nothing.
    func testReturnToFullPoolClosesAfterCheckin() throws {
        let f = try EventFixture(poolSize: 1, maxOverflow: 1)
        let a = try f.pool.connect()
        let b = try f.pool.connect()
        let aConn = try XCTUnwrap(a.dbapiConnection), bConn = try XCTUnwrap(b.dbapiConnection)
        XCTAssertEqual(f.pool.overflow, 1)
        f.log.removeAll()

        a.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "checkin"], "a return to a pool with room does not close")
        XCTAssertFalse(aConn.closed)
        f.log.removeAll()

        b.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "checkin", "close", "CL"])
        XCTAssertEqual(f.recorder.events(.close).last?.connectionID, bConn.id)
        XCTAssertEqual(bConn.calls, ["rollback()", "close()"])
        XCTAssertEqual(f.pool.status(), "Pool size: 1  Connections in pool: 1 Current Overflow: 0 Current Checked out connections: 0")
    }

    // FIFO (the default) hands out the idle connection returned first; LIFO the one returned last.
    func testFIFOAndLIFOOrder() throws {
        for lifo in [false, true] {
            let dbapi = MockDBAPI()
            let pool = try makePool(3, 0, lifo: lifo, dbapi: dbapi)
            let fairies = try (0..<3).map { _ in try pool.connect() }
            let ids = fairies.map { $0.dbapiConnection!.id }
            fairies.forEach { $0.close() }  // returned in order 0, 1, 2
            let next = try pool.connect()
            XCTAssertEqual(next.dbapiConnection!.id, lifo ? ids[2] : ids[0], lifo ? "LIFO takes the newest" : "FIFO takes the oldest")
            next.close()
            XCTAssertEqual(dbapi.connections.count, 3, "no connection beyond the three is created")
        }
    }

    // dispose() while connections are out closes the idle ones only (close, then the dialect's
    // close); the ones out are pooled normally when they come back (reset, rollback, checkin), and
    // the counters stay true after every step. SQLAlchemy's checkedout() would go negative here;
    // ours never does. The slots dispose freed are reused by new connections.
    func testDisposeWhileCheckedOutClosesIdleOnlyAndKeepsCountersTrue() throws {
        let f = try EventFixture(poolSize: 3)
        let pool = f.pool
        func counters() -> [Int] { [pool.checkedIn, pool.checkedOut, pool.overflow] }

        let c1 = try pool.connect(), c2 = try pool.connect(), c3 = try pool.connect()
        let conn1 = try XCTUnwrap(c1.dbapiConnection)
        let conn2 = try XCTUnwrap(c2.dbapiConnection)
        let conn3 = try XCTUnwrap(c3.dbapiConnection)
        XCTAssertEqual(counters(), [0, 3, 0])

        c1.close()
        XCTAssertEqual(counters(), [1, 2, 0])
        XCTAssertEqual(conn1.closeCount, 0)

        f.log.removeAll()
        pool.dispose()
        XCTAssertEqual(f.log.entries, ["close", "CL"])
        XCTAssertEqual(f.recorder.events(.close).last?.connectionID, conn1.id)
        XCTAssertEqual(conn1.closeCount, 1, "dispose closes the idle connection")
        XCTAssertEqual(conn2.closeCount, 0, "dispose leaves checked-out connections alone")
        XCTAssertEqual(conn3.closeCount, 0)
        XCTAssertEqual(counters(), [0, 2, -1])
        XCTAssertEqual(pool.status(), "Pool size: 3  Connections in pool: 0 Current Overflow: -1 Current Checked out connections: 2")

        f.log.removeAll()
        c2.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "checkin"], "a connection returned after dispose is pooled normally")
        XCTAssertEqual(counters(), [1, 1, -1], "SQLAlchemy would read checkedout() == -2 here")
        XCTAssertEqual(conn2.closeCount, 0)

        c3.close()
        XCTAssertEqual(counters(), [2, 0, -1])
        XCTAssertEqual(pool.status(), "Pool size: 3  Connections in pool: 2 Current Overflow: -1 Current Checked out connections: 0")

        // ...and that is the one we get back next (FIFO).
        let c4 = try pool.connect()
        XCTAssertEqual(c4.dbapiConnection?.id, conn2.id)
        XCTAssertEqual(counters(), [1, 1, -1])
        let c5 = try pool.connect()
        XCTAssertEqual(c5.dbapiConnection?.id, conn3.id)
        let c6 = try pool.connect()
        XCTAssertEqual(f.dbapi.connectCount, 4, "the slot freed by dispose is reused by a new connection")
        XCTAssertEqual(counters(), [0, 3, 0])
        c4.close(); c5.close(); c6.close()
        XCTAssertEqual(counters(), [3, 0, 0])
        pool.dispose()
        XCTAssertEqual(f.dbapi.connections.map(\.closeCount), [1, 1, 1, 1], "nothing leaked, nothing closed twice")
    }

    // recreate keeps the configuration and the creator, and does not connect.
    func testRecreateKeepsConfigurationAndDoesNotConnect() throws {
        let dbapi = MockDBAPI()
        let options = PoolOptions(recycle: .seconds(10), resetOnReturn: .commit, prePing: true, loggingName: "p", logHandler: .disabled)
        let pool = try makePool(3, 7, timeout: .seconds(9), lifo: true, dbapi: dbapi, options: options)
        try pool.connect().close()
        let fresh = pool.recreate()
        XCTAssertEqual(dbapi.connections.count, 1)
        XCTAssertEqual(fresh.size, 3)
        XCTAssertEqual(fresh.maxOverflow, 7)
        XCTAssertEqual(fresh.timeout, .seconds(9))
        XCTAssertTrue(fresh.useLIFO)
        XCTAssertEqual(fresh.options.recycle, .seconds(10))
        XCTAssertEqual(fresh.options.resetOnReturn, .commit)
        XCTAssertTrue(fresh.options.prePing)
        XCTAssertEqual(fresh.options.loggingName, "p")
        XCTAssertEqual(fresh.checkedIn, 0)
        XCTAssertEqual(fresh.checkedOut, 0)
        let fairy = try fresh.connect()
        XCTAssertEqual(dbapi.connections.count, 2, "the recreated pool uses the same creator")
        fairy.close()
        XCTAssertEqual(dbapi.connections[1].calls, ["commit()"])
    }

    // An idle record that fails to reconnect goes back without a connection (checkin with no
    // connection, no connect event), and the counters do not move.
    func testFailedReconnectOfIdleRecordKeepsCounters() throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(1, 0, dbapi: dbapi)
        let recorder = EventRecorder()
        let first = try pool.connect()
        pool.invalidateAll(triggeredBy: first, error: nil)
        recorder.attach(to: pool.events)
        dbapi.shutdown(true)
        XCTAssertThrowsError(try pool.connect()) { XCTAssertEqual($0 as? MockError, MockError("connect failed")) }
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(pool.overflow, 0)
        XCTAssertEqual(recorder.names, ["checkin"], "a failed checkout gives the record back with checkin(nil), no connect")
        XCTAssertEqual(recorder.events.first?.connectionWasNil, true)
        dbapi.shutdown(false)
        let recovered = try pool.connect()
        XCTAssertTrue(recovered.isValid)
        recovered.close()
    }

    // Fairness: queued waiters are served strictly in arrival order, blocking and async alike,
    // and a slot freed by a failed creation goes to the head waiter.
    func testWaitersAreServedInArrivalOrderAcrossKinds() async throws {
        let pool = try makePool(1, 0, timeout: nil)
        let held = try await pool.connect()
        let order = Guarded<[String]>([])
        let w1 = Harness.spawn {
            let f = try? pool.connect(); order.update { $0.append("blocking-1") }; f?.close()
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 1 })
        let w2 = Task {
            let f = try await pool.connect(); order.update { $0.append("async-2") }; f.close()
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 2 })
        let w3 = Harness.spawn {
            let f = try? pool.connect(); order.update { $0.append("blocking-3") }; f?.close()
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 3 })
        await held.closeAndWait()
        XCTAssertTrue(w1.finished())
        try await w2.value
        XCTAssertTrue(w3.finished())
        XCTAssertEqual(order.value, ["blocking-1", "async-2", "blocking-3"])
        XCTAssertEqual(pool.checkedIn, 1)
    }

    func testSlotFreedByFailedCreationGoesToQueuedWaiter() throws {
        let dbapi = MockDBAPI()
        let pool = try makePool(1, 0, timeout: .seconds(10), dbapi: dbapi)
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let calls = Guarded(0)
        dbapi.beforeConnect = { _ in
            if calls.update({
                $0 += 1; return $0
            }) == 1 {
                entered.signal()
                release.wait()
                throw MockError("first connect fails")
            }
        }
        let firstFailed = Guarded(false)
        let first = Harness.spawn {
            do { _ = try pool.connect() } catch { firstFailed.update { $0 = true } }
        }
        XCTAssertEqual(entered.wait(timeout: .now() + 10), .success)
        let got = Guarded(false)
        let second = Harness.spawn {
            if let f = try? pool.connect() { got.update { $0 = true }; f.close() }
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 1 })
        release.signal()
        XCTAssertTrue(first.finished())
        XCTAssertTrue(second.finished())
        XCTAssertTrue(firstFailed.value)
        XCTAssertTrue(got.value, "the waiter was given the freed slot instead of timing out")
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertEqual(pool.checkedOut, 0)
    }
}
