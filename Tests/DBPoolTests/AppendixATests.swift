import XCTest
import DBPool
import DBPoolTesting
import Synchronization

/// Appendix A of the spec: source-derived behaviours that upstream does not assert.
/// (Items 5, 11, 14 and 15 live with their pool kinds: NullPoolTests, AssertionPoolTests,
/// StaticPoolTests, SingletonThreadPoolTests.)
final class AppendixATests: XCTestCase {
    // MARK: 4. Pre-ping with the default dialect

    // Appendix A 4: prePing with DefaultDialect on a non-fresh connection throws
    // PoolError.pingNotSupported; the record is invalidated and returned.
    func testPrePingWithDefaultDialectThrowsPingNotSupported() throws {
        let dbapi = MockDBAPI()
        let pool = try QueuePool(poolSize: 2, maxOverflow: 0, options: PoolOptions(prePing: true), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)

        // A fresh connection is not pinged, so the first checkout works.
        let first = try pool.connect()
        let conn = try XCTUnwrap(first.dbapiConnection)
        first.close()
        recorder.clear()

        XCTAssertThrowsError(try pool.connect()) { error in
            guard case .pingNotSupported? = error as? PoolError else {
                return XCTFail("expected PoolError.pingNotSupported, got \(error)")
            }
            XCTAssertEqual(
                (error as? PoolError)?.description,
                "The ping feature requires that a dialect is passed to the connection pool.")
        }
        XCTAssertTrue(conn.closed, "the record's connection must be invalidated")
        XCTAssertEqual(recorder.names, ["invalidate", "close", "checkin"])
        guard case .pingNotSupported? = recorder.events(.invalidate).first?.error as? PoolError else {
            return XCTFail("the invalidate event must carry the ping error")
        }
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(pool.overflow, -1)

        // The returned record reconnects; the new connection is fresh, so it is not pinged.
        let next = try pool.connect()
        XCTAssertNotEqual(next.dbapiConnection?.id, conn.id)
        next.close()
    }

    // MARK: 6. Overflow discard

    // Appendix A 6: an overflow return fires close after checkin; a normal return does not close.
    func testOverflowDiscardFiresCloseAfterCheckin() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try QueuePool(poolSize: 1, maxOverflow: 1, dialect: MockDialect(log: log), creator: dbapi.creator())
        let recorder = EventRecorder(log: log)
        recorder.attach(to: pool.events)
        let a = try pool.connect()
        let b = try pool.connect()
        let aConn = try XCTUnwrap(a.dbapiConnection), bConn = try XCTUnwrap(b.dbapiConnection)
        XCTAssertEqual(pool.overflow, 1)
        log.removeAll()

        a.close()
        XCTAssertEqual(log.entries, ["reset", "R", "checkin"], "a return to free queue space does not close (PE-01)")
        XCTAssertFalse(aConn.closed)
        log.removeAll()

        b.close()
        XCTAssertEqual(log.entries, ["reset", "R", "checkin", "close", "CL"])
        XCTAssertEqual(recorder.events(.close).last?.connectionID, bConn.id)
        XCTAssertTrue(bConn.closed)
        XCTAssertEqual(pool.status(), "Pool size: 1  Connections in pool: 1 Current Overflow: 0 Current Checked out connections: 0")
    }

    // MARK: 7. Recycle

    // Appendix A 7: recycle fires close (then terminate) then connect, and no invalidate; the age
    // test is strictly greater than (QP-17).
    func testRecycleFiresCloseThenConnectWithoutInvalidate() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let log = MockCallLog()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, options: PoolOptions(recycle: .seconds(30), clock: clock),
            dialect: MockDialect(log: log), creator: dbapi.creator())
        EventRecorder(log: log).attach(to: pool.events)
        let first = try pool.connect()
        let oldConn = try XCTUnwrap(first.dbapiConnection)
        first.close()

        clock.advance(by: .seconds(30))
        log.removeAll()
        let same = try pool.connect()
        XCTAssertEqual(same.dbapiConnection?.id, oldConn.id, "exactly the recycle age does not recycle")
        XCTAssertEqual(log.entries, ["checkout"])
        same.close()

        clock.advance(by: .milliseconds(1))
        log.removeAll()
        let recycled = try pool.connect()
        XCTAssertNotEqual(recycled.dbapiConnection?.id, oldConn.id)
        XCTAssertTrue(oldConn.closed)
        XCTAssertEqual(log.entries, ["close", "T", "connect", "checkout"])
        recycled.close()
        XCTAssertEqual(dbapi.connectCount, 2)
    }

    // MARK: 8. Hard invalidate

    // Appendix A 8: invalidate, close, checkin(nil); no reset and no rollback.
    func testHardInvalidateEventOrder() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try QueuePool(poolSize: 1, maxOverflow: 0, dialect: MockDialect(log: log), creator: dbapi.creator())
        let recorder = EventRecorder(log: log)
        recorder.attach(to: pool.events)
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        let record = try XCTUnwrap(fairy.record)
        log.removeAll()
        recorder.clear()

        let cause = MockError("boom")
        fairy.invalidate(cause)
        XCTAssertEqual(log.entries, ["invalidate", "close", "T", "checkin"])
        XCTAssertEqual(recorder.count(.reset), 0)
        XCTAssertEqual(conn.calls, ["close()"])
        XCTAssertEqual(recorder.events(.invalidate).first?.error as? MockError, cause)
        let checkin = try XCTUnwrap(recorder.events(.checkin).first)
        XCTAssertTrue(checkin.connectionWasNil)
        XCTAssertEqual(checkin.recordID, ObjectIdentifier(record))
        XCTAssertNil(fairy.dbapiConnection)
        XCTAssertNil(fairy.record)
        XCTAssertNil(record.dbapiConnection)
        XCTAssertEqual(pool.checkedIn, 1)

        // A later close() is a no-op.
        fairy.close()
        XCTAssertEqual(recorder.count(.checkin), 1)
    }

    // MARK: 9. Commit mode with transactionWasReset

    // Appendix A 9: commit is still issued when the caller says the transaction was reset; in
    // rollback mode the rollback is skipped.
    func testCommitModeWithTransactionWasResetStillCommits() throws {
        let dbapi = MockDBAPI()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, options: PoolOptions(resetOnReturn: .commit),
            dialect: MockDialect(), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.reset])
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close(transactionWasReset: true)
        XCTAssertEqual(conn.calls, ["commit()"])
        XCTAssertEqual(
            recorder.events(.reset).first?.resetState,
            PoolResetState(transactionWasReset: true, terminateOnly: false, asyncioSafe: true))
    }

    func testRollbackModeWithTransactionWasResetSkipsRollback() throws {
        let dbapi = MockDBAPI()
        let pool = try QueuePool(poolSize: 1, maxOverflow: 0, dialect: MockDialect(), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.reset, .checkin])
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close(transactionWasReset: true)
        XCTAssertEqual(conn.calls, [])
        XCTAssertEqual(recorder.names, ["reset", "checkin"])
        XCTAssertEqual(recorder.events(.reset).first?.resetState?.transactionWasReset, true)
    }

    // MARK: 10. Error during reset

    // Appendix A 10: a rollback error during reset fires invalidate with that error, closes the
    // connection, returns the record, and is swallowed (and logged).
    func testRollbackErrorDuringResetInvalidatesAndIsSwallowed() throws {
        let dbapi = MockDBAPI()
        let sink = AppendixLogSink()
        let log = MockCallLog()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, options: PoolOptions(logHandler: sink.handler(level: .error)),
            dialect: MockDialect(log: log), creator: dbapi.creator())
        let recorder = EventRecorder(log: log)
        recorder.attach(to: pool.events)
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        conn.failRollback = .error
        log.removeAll()

        fairy.close()
        XCTAssertEqual(log.entries, ["reset", "R", "invalidate", "close", "T", "checkin"])
        let expected = MockError("something broke on rollback but we didn't lose the connection")
        XCTAssertEqual(recorder.events(.invalidate).first?.error as? MockError, expected)
        XCTAssertTrue(try XCTUnwrap(recorder.events(.checkin).first).connectionWasNil)
        XCTAssertTrue(conn.closed)
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertEqual(pool.checkedOut, 0)
        let errors = sink.messages.filter { $0.message == "Exception during reset or similar" }
        XCTAssertEqual(errors.count, 1)
        XCTAssertEqual(errors.first?.error as? MockError, expected)

        // The record reconnects on the next checkout.
        let next = try pool.connect()
        XCTAssertNotEqual(next.dbapiConnection?.id, conn.id)
        next.close()
    }

    // MARK: 12. Status strings

    // Appendix A 12 / QP-01: the QueuePool status after six checkouts of QueuePool(3, 3), and
    // the fixed strings of the other four kinds.
    func testStatusStringsForAllFiveKinds() throws {
        let queue = try QueuePool(poolSize: 3, maxOverflow: 3, dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertEqual(queue.status(), "Pool size: 3  Connections in pool: 0 Current Overflow: -3 Current Checked out connections: 0")
        var fairies: [ConnectionFairy<MockConnection>] = []
        for _ in 0..<6 { fairies.append(try queue.connect()) }
        XCTAssertEqual(queue.status(), "Pool size: 3  Connections in pool: 0 Current Overflow: 3 Current Checked out connections: 6")
        for fairy in fairies { fairy.close() }
        XCTAssertEqual(queue.status(), "Pool size: 3  Connections in pool: 3 Current Overflow: 0 Current Checked out connections: 0")

        XCTAssertEqual(try NullPool(dialect: MockDialect(), creator: MockDBAPI().creator()).status(), "NullPool")
        XCTAssertEqual(try StaticPool(dialect: MockDialect(), creator: MockDBAPI().creator()).status(), "StaticPool")
        XCTAssertEqual(try AssertionPool(dialect: MockDialect(), creator: MockDBAPI().creator()).status(), "AssertionPool")
        let singleton = try SingletonThreadPool(dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertNotNil(singleton.status().wholeMatch(of: try Regex("SingletonThreadPool id:[0-9]+ size: 0")), singleton.status())
    }

    // MARK: 13. Dispose while checked out (QP-12)

    // QP-12 / Appendix A 13: dispose() while connections are out, then returning them. Our
    // deliberate deviation from SQLAlchemy: checkedOut never goes negative; the counters stay
    // true after every step.
    func testDisposeWhileCheckedOutKeepsCountersTrue() throws {
        let dbapi = MockDBAPI()
        let pool = try QueuePool(poolSize: 3, maxOverflow: 0, dialect: MockDialect(), creator: dbapi.creator())
        func counters() -> [Int] { [pool.checkedIn, pool.checkedOut, pool.overflow] }

        let c1 = try pool.connect(), c2 = try pool.connect(), c3 = try pool.connect()
        let conn1 = try XCTUnwrap(c1.dbapiConnection)
        let conn2 = try XCTUnwrap(c2.dbapiConnection)
        let conn3 = try XCTUnwrap(c3.dbapiConnection)
        XCTAssertEqual(counters(), [0, 3, 0])

        c1.close()
        XCTAssertEqual(counters(), [1, 2, 0])
        XCTAssertEqual(conn1.closeCount, 0)

        pool.dispose()
        XCTAssertEqual(conn1.closeCount, 1, "dispose closes the idle connection")
        XCTAssertEqual(conn2.closeCount, 0, "dispose leaves checked-out connections alone")
        XCTAssertEqual(conn3.closeCount, 0)
        XCTAssertEqual(counters(), [0, 2, -1])
        XCTAssertEqual(pool.status(), "Pool size: 3  Connections in pool: 0 Current Overflow: -1 Current Checked out connections: 2")

        c2.close()
        XCTAssertEqual(counters(), [1, 1, -1], "SQLAlchemy would read checkedout() == -2 here")
        XCTAssertEqual(conn2.closeCount, 0, "a connection returned after dispose is pooled normally")

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
        XCTAssertEqual(dbapi.connectCount, 4, "the slot freed by dispose is reused by a new connection")
        XCTAssertEqual(counters(), [0, 3, 0])
        c4.close(); c5.close(); c6.close()
        XCTAssertEqual(counters(), [3, 0, 0])
        XCTAssertGreaterThanOrEqual(pool.checkedOut, 0)
    }
}

/// Collects the messages of a pool's log handler, thread-safely.
private final class AppendixLogSink: Sendable {
    private let storage = Mutex<[PoolLogMessage]>([])

    func handler(level: PoolLogLevel) -> PoolLogHandler {
        PoolLogHandler(level: level) { [self] message in storage.withLock { $0.append(message) } }
    }

    var messages: [PoolLogMessage] { storage.withLock { $0 } }
}
