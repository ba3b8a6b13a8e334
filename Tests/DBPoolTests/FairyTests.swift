import DBPool
import DBPoolTesting
import Synchronization
import XCTest

// Spec §6.2 (ConnectionFairy: re-entrancy, isValid, info/recordInfo, double close, dynamic member
// lookup, deinit return with a warning) and §6.7 (detach).

/// Collects every log message a pool emits.
private final class LogCapture: Sendable {
    private let storage = Mutex<[PoolLogMessage]>([])
    var handler: PoolLogHandler {
        PoolLogHandler(level: .debug) { [self] message in storage.withLock { $0.append(message) } }
    }
    var messages: [PoolLogMessage] { storage.withLock { $0 } }
    func messages(at level: PoolLogLevel) -> [String] {
        messages.filter { $0.level == level }.map(\.message)
    }
}

private struct FairyFixture {
    let dbapi = MockDBAPI()
    let log = MockCallLog()
    let logs = LogCapture()
    let recorder: EventRecorder
    let pool: QueuePool<MockConnection>

    init(poolSize: Int = 2, resetOnReturn: ResetOnReturn = .rollback) throws {
        recorder = EventRecorder(log: log)
        pool = try QueuePool(
            poolSize: poolSize, maxOverflow: 0, timeout: .milliseconds(50),
            options: PoolOptions(resetOnReturn: resetOnReturn, logHandler: logs.handler),
            dialect: MockDialect(log: log), creator: dbapi.creator())
        recorder.attach(to: pool.events)
    }
}

final class FairyTests: XCTestCase {
    // MARK: Validity and close

    /// §6.2: valid while checked out; after close() the fairy has neither connection nor record.
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

    /// Appendix A.1: a second close() does nothing: no second reset, rollback or checkin, and the
    /// pool does not count the record twice.
    func testSecondCloseIsANoOp() throws {
        let f = try FairyFixture()
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        f.log.removeAll()
        fairy.close()
        fairy.close(transactionWasReset: true)
        XCTAssertEqual(f.log.entries, [])
        XCTAssertEqual(conn.calls, ["rollback()"])
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertEqual(f.recorder.count(.checkin), 1)
        XCTAssertEqual(f.logs.messages(at: .warning), [])
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

    /// A kept fairy does not keep its pool alive: dropping the pool still closes its idle
    /// connections.
    func testKeptFairyDoesNotKeepThePoolAlive() throws {
        let dbapi = MockDBAPI()
        weak var weakPool: QueuePool<MockConnection>?
        do {
            let pool = try QueuePool(poolSize: 2, maxOverflow: 0, creator: dbapi.creator())
            weakPool = pool
            try pool.withConnection { _ in }
            let fairy = try pool.connect()
            fairy.close()
        }
        XCTAssertNil(weakPool)
        XCTAssertEqual(dbapi.connections.map(\.closed), [true])
    }

    /// Appendix A.2: invalidate() on a closed fairy warns and does nothing.
    func testInvalidateAfterCloseWarnsAndDoesNothing() throws {
        let f = try FairyFixture()
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        f.log.removeAll()
        fairy.invalidate(MockError("late"))
        XCTAssertEqual(f.log.entries, [])
        XCTAssertFalse(conn.closed)
        XCTAssertEqual(f.logs.messages(at: .warning), ["Can't invalidate an already-closed connection."])
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    /// RR-01 "invalidate": after a hard invalidate the checkout is over; a later close() is a no-op.
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

    // MARK: Re-entrancy (ST-02)

    /// ST-02: a nested checkout on the same thread of a SingletonThreadPool returns the same fairy
    /// with no checkout event and no ping; the inner close does nothing; the outer close resets.
    func testNestedCheckoutIsReentrantAndOnlyOutermostCloseReturns() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try SingletonThreadPool(
            poolSize: 2, options: PoolOptions(prePing: true, logHandler: .disabled),
            dialect: MockDialect(log: log), creator: dbapi.creator())
        EventRecorder(log: log).attach(to: pool.events)
        try pool.connect().close()
        log.removeAll()

        let outer = try pool.connect()
        let inner = try pool.connect()
        XCTAssertTrue(inner === outer)
        XCTAssertEqual(log.entries, ["P", "checkout"], "one ping, one checkout event for the outermost checkout only")
        let conn = try XCTUnwrap(outer.dbapiConnection)

        inner.close()
        XCTAssertEqual(log.entries, ["P", "checkout"], "the nested close must not reset or check in")
        XCTAssertTrue(outer.isValid)
        XCTAssertEqual(conn.calls, ["rollback()", "cursor()"])

        outer.close()
        XCTAssertEqual(log.entries, ["P", "checkout", "reset", "R", "checkin"])
        XCTAssertFalse(outer.isValid)
        outer.close()
        XCTAssertEqual(log.entries, ["P", "checkout", "reset", "R", "checkin"])
        XCTAssertEqual(dbapi.connectCount, 1)
    }

    // MARK: info / recordInfo

    /// PT-03: fairy.info is the record's info (writes go both ways, and survive a return of the same
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

    /// PT-03/PT-05: after detach, info is a private copy (changes do not cross), recordInfo is nil,
    /// and the freed record reconnects with info cleared and recordInfo kept.
    func testInfoIsACopyAfterDetachAndRecordInfoIsNil() throws {
        let f = try FairyFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let record = try XCTUnwrap(fairy.record)
        fairy.info["k"] = "before"
        fairy.recordInfo?["r"] = 9
        fairy.detach()

        XCTAssertTrue(fairy.isDetached)
        XCTAssertNil(fairy.recordInfo)
        XCTAssertEqual(fairy.info["k"] as? String, "before")
        fairy.info["k"] = "after"
        XCTAssertEqual(record.info["k"] as? String, "before", "the detached fairy's info is a copy")
        record.info["other"] = true
        XCTAssertNil(fairy.info["other"])

        let next = try f.pool.connect()
        XCTAssertTrue(next.record === record)
        XCTAssertTrue(record.info.isEmpty, "the freed record reconnects, clearing info")
        XCTAssertEqual(record.recordInfo["r"] as? Int, 9)
        XCTAssertEqual(fairy.info["k"] as? String, "after")
        next.close()
        fairy.close()
    }

    // MARK: Dynamic member lookup

    /// §6.2: properties of the driver connection are reachable on the fairy.
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

    // MARK: deinit (PP-08 / QP-25 gc analogue)

    private func checkOutAndDrop(_ pool: QueuePool<MockConnection>) throws {
        _ = try pool.connect()
    }

    /// A fairy dropped without close() is returned by its deinit: one reset + rollback + checkin,
    /// the record is idle again, and a warning naming the checkout site is logged.
    func testDroppedFairyIsReturnedByDeinitWithAWarning() throws {
        let f = try FairyFixture(poolSize: 1)
        try checkOutAndDrop(f.pool)
        XCTAssertEqual(f.log.entries, ["first_connect", "connect", "checkout", "reset", "R", "checkin"])
        XCTAssertEqual(f.dbapi.connections[0].calls, ["rollback()"])
        XCTAssertFalse(f.dbapi.connections[0].closed)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        let warnings = f.logs.messages(at: .warning)
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.contains("dropped without close()") ?? false, "\(warnings)")
        XCTAssertTrue(warnings.first?.contains("FairyTests.swift:") ?? false, "\(warnings)")

        // The pool of size 1 can hand the connection out again at once.
        let again = try f.pool.connect()
        XCTAssertEqual(again.dbapiConnection?.id, f.dbapi.connections[0].id)
        again.close()
    }

    /// A fairy dropped after close() does not return anything a second time, and logs nothing.
    func testClosedFairyDeinitDoesNothing() throws {
        let f = try FairyFixture(poolSize: 1)
        do {
            let fairy = try f.pool.connect()
            fairy.close()
        }
        XCTAssertEqual(f.recorder.count(.checkin), 1)
        XCTAssertEqual(f.recorder.count(.reset), 1)
        XCTAssertEqual(f.logs.messages(at: .warning), [])
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    /// A hard-invalidated fairy that is dropped does not return anything a second time.
    func testInvalidatedFairyDeinitDoesNothing() throws {
        let f = try FairyFixture(poolSize: 1)
        do {
            let fairy = try f.pool.connect()
            fairy.invalidate()
        }
        XCTAssertEqual(f.recorder.count(.checkin), 1)
        XCTAssertEqual(f.recorder.count(.reset), 0)
        XCTAssertEqual(f.logs.messages(at: .warning), [])
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    private func detachAndDrop(_ pool: QueuePool<MockConnection>) throws -> MockConnection {
        let fairy = try pool.connect()
        fairy.detach()
        return fairy.dbapiConnection!
    }

    /// A detached fairy dropped without close() closes its connection in deinit (reset with
    /// terminateOnly, rollback, close_detached, close) with a warning, so nothing leaks; no checkin.
    func testDroppedDetachedFairyClosesItsConnection() throws {
        let f = try FairyFixture(poolSize: 1)
        let conn = try detachAndDrop(f.pool)
        XCTAssertEqual(f.log.entries, ["first_connect", "connect", "checkout", "detach", "reset", "R", "close_detached", "CL"])
        XCTAssertTrue(conn.closed)
        XCTAssertEqual(f.recorder.count(.checkin), 0)
        XCTAssertEqual(f.logs.messages(at: .warning).count, 1)
    }

    // MARK: §6.7 detach

    /// PE-03/QP-30: detach fires only `detach` (no reset, no checkin), the record goes back to the
    /// pool without its connection, the fairy keeps the connection, and QueuePool(1, 0) can hand
    /// out a second connection at once.
    func testDetachRequeuesRecordWithoutConnectionAndFreesTheSlot() throws {
        let f = try FairyFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        let record = try XCTUnwrap(fairy.record)
        f.log.removeAll()

        fairy.detach()
        XCTAssertEqual(f.log.entries, ["detach"])
        XCTAssertEqual(conn.calls, [])
        XCTAssertFalse(conn.closed)
        XCTAssertTrue(fairy.isValid)
        XCTAssertTrue(fairy.isDetached)
        XCTAssertNil(fairy.record)
        XCTAssertEqual(fairy.dbapiConnection?.id, conn.id)
        XCTAssertNil(record.dbapiConnection)
        XCTAssertFalse(record.inUse)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertEqual(f.pool.overflow, 0)

        f.log.removeAll()
        let second = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["connect", "checkout"])
        XCTAssertTrue(second.record === record)
        XCTAssertNotEqual(second.dbapiConnection?.id, conn.id)
        second.close()
        fairy.close()
    }

    /// RR-01 detach / PE-03: closing a detached fairy fires reset(terminateOnly, record nil), the
    /// reset action, close_detached, then closes the connection; no checkin; the pool is untouched.
    func testClosingDetachedFairyResetsThenClosesWithoutCheckin() throws {
        let f = try FairyFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.detach()
        f.log.removeAll()

        fairy.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "close_detached", "CL"])
        XCTAssertEqual(
            f.recorder.events(.reset).first?.resetState,
            PoolResetState(transactionWasReset: false, terminateOnly: true, asyncioSafe: true))
        XCTAssertFalse(f.recorder.events(.reset).first?.hadRecord ?? true)
        XCTAssertEqual(conn.calls, ["rollback()", "close()"])
        XCTAssertTrue(conn.closed)
        XCTAssertFalse(fairy.isValid)
        XCTAssertEqual(f.recorder.count(.checkin), 0)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)

        f.log.removeAll()
        fairy.close()
        XCTAssertEqual(f.log.entries, [], "a second close of the detached fairy does nothing")
        XCTAssertEqual(conn.closeCount, 1)
    }

    /// §6.7 with `.commit`: the detached close commits instead of rolling back.
    func testClosingDetachedFairyInCommitModeCommits() throws {
        let f = try FairyFixture(poolSize: 1, resetOnReturn: .commit)
        let fairy = try f.pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.detach()
        f.log.removeAll()
        fairy.close()
        XCTAssertEqual(f.log.entries, ["reset", "C", "close_detached", "CL"])
        XCTAssertEqual(conn.calls, ["commit()", "close()"])
    }

    /// §6.7 [SRC]: calling detach() again does nothing: one detach event, the record is not
    /// requeued twice.
    func testDetachTwiceIsANoOp() throws {
        let f = try FairyFixture(poolSize: 2)
        let fairy = try f.pool.connect()
        fairy.detach()
        fairy.detach()
        XCTAssertEqual(f.recorder.count(.detach), 1)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertTrue(fairy.isValid)
        fairy.close()
        XCTAssertEqual(f.recorder.count(.closeDetached), 1)
    }

    /// Detach of a closed fairy does nothing.
    func testDetachAfterCloseIsANoOp() throws {
        let f = try FairyFixture(poolSize: 1)
        let fairy = try f.pool.connect()
        fairy.close()
        f.log.removeAll()
        fairy.detach()
        XCTAssertEqual(f.log.entries, [])
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertFalse(f.dbapi.connections[0].closed)
        let again = try f.pool.connect()
        XCTAssertEqual(again.dbapiConnection?.id, f.dbapi.connections[0].id, "the record kept its connection")
        again.close()
    }
}
