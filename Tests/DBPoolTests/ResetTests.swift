import DBPool
import DBPoolTesting
import Synchronization
import XCTest

/// Collects every log message a pool emits.
private final class ResetLogCapture: Sendable {
    private let storage = Mutex<[PoolLogMessage]>([])
    var handler: PoolLogHandler {
        PoolLogHandler(level: .debug) { [self] message in storage.withLock { $0.append(message) } }
    }
    var messages: [PoolLogMessage] { storage.withLock { $0 } }
}

private struct ResetFixture {
    let dbapi = MockDBAPI()
    let log = MockCallLog()
    let logs = ResetLogCapture()
    let recorder: EventRecorder
    let pool: QueuePool<MockConnection>

    init(_ resetOnReturn: ResetOnReturn) throws {
        recorder = EventRecorder(log: log)
        pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, timeout: .milliseconds(50),
            options: PoolOptions(resetOnReturn: resetOnReturn, logHandler: logs.handler),
            dialect: MockDialect(log: log), creator: dbapi.creator())
        recorder.attach(to: pool.events)
    }

    /// Checks a connection out and clears the logs, so the test sees only the return.
    func checkout() throws -> (ConnectionFairy<MockConnection>, MockConnection) {
        let fairy = try pool.connect()
        log.removeAll()
        recorder.clear()
        return (fairy, fairy.dbapiConnection!)
    }
}

private let plainReset = PoolResetState(transactionWasReset: false, terminateOnly: false, asyncioSafe: true)
private let specialReset = PoolResetState(transactionWasReset: true, terminateOnly: false, asyncioSafe: true)

/// Reset on return (rollback, commit or noAction), the "special close"
/// `close(transactionWasReset:)`, and a reset that fails. (A hard-invalidated connection is not
/// reset: InvalidationTests.)
final class ResetTests: XCTestCase {
    // MARK: Modes

    /// `.rollback` (the default): the reset event, then one rollback, then checkin; the connection
    /// stays open and is pooled.
    func testRollbackModeRollsBackOnReturn() throws {
        let f = try ResetFixture(.rollback)
        let (fairy, conn) = try f.checkout()
        fairy.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "checkin"])
        XCTAssertEqual(conn.calls, ["rollback()"])
        XCTAssertEqual(f.recorder.events(.reset).first?.resetState, plainReset)
        XCTAssertEqual(f.recorder.events(.reset).first?.connectionID, conn.id)
        XCTAssertTrue(f.recorder.events(.reset).first?.hadRecord ?? false)
        XCTAssertEqual(f.recorder.events(.checkin).first?.connectionID, conn.id)
        XCTAssertFalse(conn.closed)
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    /// `.commit`: reset event, then one commit, then checkin.
    func testCommitModeCommitsOnReturn() throws {
        let f = try ResetFixture(.commit)
        let (fairy, conn) = try f.checkout()
        fairy.close()
        XCTAssertEqual(f.log.entries, ["reset", "C", "checkin"])
        XCTAssertEqual(conn.calls, ["commit()"])
        XCTAssertEqual(f.recorder.events(.reset).first?.resetState, plainReset)
    }

    /// `.noAction`: no rollback or commit, but the reset event still fires.
    func testNoActionModeStillFiresResetEvent() throws {
        let f = try ResetFixture(.noAction)
        let (fairy, conn) = try f.checkout()
        fairy.close()
        XCTAssertEqual(f.log.entries, ["reset", "checkin"])
        XCTAssertEqual(conn.calls, [])
        XCTAssertEqual(f.recorder.events(.reset).first?.resetState, plainReset)
    }

    // MARK: Special close

    /// close(transactionWasReset: true) in `.rollback` mode skips the rollback and
    /// tells the reset listener so; the log says "transaction already reset".
    func testSpecialCloseSkipsRollback() throws {
        let f = try ResetFixture(.rollback)
        let (fairy, conn) = try f.checkout()
        fairy.close(transactionWasReset: true)
        XCTAssertEqual(f.log.entries, ["reset", "checkin"])
        XCTAssertEqual(conn.calls, [])
        XCTAssertEqual(f.recorder.events(.reset).first?.resetState, specialReset)
        XCTAssertTrue(f.logs.messages.contains { $0.message.contains("transaction already reset") })
        XCTAssertEqual(f.pool.checkedIn, 1)
    }

    /// close(transactionWasReset: true) in `.commit` mode still commits, and tells the reset
    /// listener that the transaction was reset.
    func testSpecialCloseInCommitModeStillCommits() throws {
        let f = try ResetFixture(.commit)
        let (fairy, conn) = try f.checkout()
        fairy.close(transactionWasReset: true)
        XCTAssertEqual(f.log.entries, ["reset", "C", "checkin"])
        XCTAssertEqual(conn.calls, ["commit()"])
        XCTAssertEqual(f.recorder.events(.reset).first?.resetState, specialReset)
    }

    /// close(transactionWasReset: false) is the same as close().
    func testSpecialCloseWithFalseRollsBack() throws {
        let f = try ResetFixture(.rollback)
        let (fairy, conn) = try f.checkout()
        fairy.close(transactionWasReset: false)
        XCTAssertEqual(f.log.entries, ["reset", "R", "checkin"])
        XCTAssertEqual(conn.calls, ["rollback()"])
    }

    /// A reset listener sees the connection before the pool's rollback, so a
    /// driver-specific reset it performs precedes the rollback.
    func testResetListenerRunsBeforeThePoolsRollback() throws {
        let f = try ResetFixture(.rollback)
        f.pool.events.onReset { conn, _, state in
            conn.record("specialReset(\(state.transactionWasReset))")
        }
        let (fairy, conn) = try f.checkout()
        fairy.close()
        XCTAssertEqual(conn.calls, ["specialReset(false)", "rollback()"])
    }

    // MARK: Errors during reset

    /// An ordinary error from the rollback is logged at error level, the record is
    /// invalidated (the invalidate event carries the error), the connection is closed, the record
    /// is returned (checkin with no connection), and close() returns normally.
    func testRollbackErrorInvalidatesAndReturnsRecordWithoutEscaping() throws {
        let f = try ResetFixture(.rollback)
        let (fairy, conn) = try f.checkout()
        let record = try XCTUnwrap(fairy.record)
        conn.failRollback = .error
        fairy.close()

        XCTAssertEqual(f.log.entries, ["reset", "R", "invalidate", "close", "T", "checkin"])
        let expected = MockError("something broke on rollback but we didn't lose the connection")
        XCTAssertEqual(f.recorder.events(.invalidate).first?.error as? MockError, expected)
        XCTAssertEqual(f.recorder.events(.checkin).first?.connectionWasNil, true)
        XCTAssertEqual(conn.calls, ["rollback()", "close()"])
        XCTAssertTrue(conn.closed)
        XCTAssertFalse(fairy.isValid)
        XCTAssertNil(record.dbapiConnection)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        let errors = f.logs.messages.filter { $0.level == .error }
        XCTAssertEqual(errors.map(\.message), ["Exception during reset or similar"])
        XCTAssertEqual(errors.first?.error as? MockError, expected)

        // The record reconnects on its next checkout.
        f.log.removeAll()
        let again = try f.pool.connect()
        XCTAssertTrue(again.record === record)
        XCTAssertEqual(f.log.entries, ["connect", "checkout"])
        again.close()
    }

    /// A disconnect from the rollback: the same handling; the event carries the disconnect error,
    /// the error is logged, the connection is closed once, and the record reconnects.
    func testRollbackDisconnectInvalidatesAndReturnsRecord() throws {
        let f = try ResetFixture(.rollback)
        let (fairy, conn) = try f.checkout()
        conn.drop()
        fairy.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "invalidate", "close", "T", "checkin"])
        XCTAssertEqual(
            f.recorder.events(.invalidate).first?.error as? MockDisconnectError,
            MockDisconnectError("Lost the DB connection on rollback"))
        XCTAssertEqual(conn.closeCount, 1)
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
        XCTAssertEqual(f.logs.messages.filter { $0.level == .error }.map(\.message), ["Exception during reset or similar"])

        f.log.removeAll()
        let again = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["connect", "checkout"], "the record reconnects")
        again.close()
    }

    /// In `.commit` mode, a failing commit is handled the same way.
    func testCommitErrorInvalidatesAndReturnsRecord() throws {
        let f = try ResetFixture(.commit)
        let (fairy, conn) = try f.checkout()
        conn.failCommit = .error
        fairy.close()
        XCTAssertEqual(f.log.entries, ["reset", "C", "invalidate", "close", "T", "checkin"])
        XCTAssertEqual(
            f.recorder.events(.invalidate).first?.error as? MockError,
            MockError("something broke on commit but we didn't lose the connection"))
        XCTAssertEqual(conn.calls, ["commit()", "close()"])
        XCTAssertEqual(f.pool.checkedIn, 1)
        XCTAssertEqual(f.pool.checkedOut, 0)
    }
}
