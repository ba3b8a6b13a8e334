@testable import DBPool
import DBPoolTesting
import XCTest

/// The return of an async driver's connection (``AsyncDialect/needsReset(_:)``): with nothing to
/// reset and nobody listening, it makes no driver call and completes where the caller runs;
/// otherwise the reset runs through the driver threads as before.
final class AsyncDriverReturnTests: XCTestCase {
    private func makePool(log: MockCallLog, needsReset: Bool, dbapi: MockDBAPI = MockDBAPI()) async throws -> QueuePool<MockConnection> {
        try await QueuePool(
            poolSize: 1, maxOverflow: 0, timeout: .seconds(5), options: PoolOptions(logHandler: .disabled),
            dialect: MockAsyncDialect(log: log, needsReset: needsReset), creator: dbapi.asyncCreator())
    }

    func testAReturnWithNothingToResetMakesNoCallAndIsBackAtOnce() async throws {
        let log = MockCallLog()
        let pool = try await makePool(log: log, needsReset: false)
        let fairy = try await pool.connect()
        fairy.close()
        XCTAssertEqual(pool.checkedIn, 1, "back in the pool when close() returns: no hand-over to a driver thread")
        XCTAssertFalse(log.entries.contains("R"), "no rollback call: \(log.entries)")

        try await pool.withConnection { _ in }
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertFalse(log.entries.contains("R"), "\(log.entries)")
    }

    func testAReturnThatMayHaveATransactionStillRollsBack() async throws {
        let log = MockCallLog()
        let pool = try await makePool(log: log, needsReset: true)
        let fairy = try await pool.connect()
        await fairy.closeAndWait()
        XCTAssertEqual(log.entries.filter { $0 == "R" }.count, 1, "\(log.entries)")
        XCTAssertEqual(pool.checkedIn, 1)
    }

    func testListenersKeepTheReturnOnTheDriverThreads() async throws {
        for kind in [PoolEventKind.reset, .checkin] {
            let log = MockCallLog()
            let pool = try await makePool(log: log, needsReset: false)
            let ranOnDriverThread = Guarded<Bool?>(nil)
            let listener: @Sendable () -> Void = { ranOnDriverThread.update { $0 = DriverExecutor.current != nil } }
            switch kind {
            case .reset: pool.events.onReset { _, _, _ in listener() }
            default: pool.events.onCheckin { _, _ in listener() }
            }
            let fairy = try await pool.connect()
            await fairy.closeAndWait()
            XCTAssertEqual(ranOnDriverThread.value, true, "a \(kind) listener is user code that may block: it runs on a driver thread")
        }
    }

    func testAWaiterServedByAReturnWithNothingToResetGetsTheConnection() async throws {
        let log = MockCallLog()
        let pool = try await makePool(log: log, needsReset: false)
        let held = try await pool.connect()
        let waiter = Task { try await pool.withConnection { $0.connection.id } }
        let queued = await Harness.waitUntil { pool.waiting == 1 }
        XCTAssertTrue(queued)
        let id = held.connection.id
        held.close()
        let served = try await waiter.value
        XCTAssertEqual(served, id, "the one connection went to the waiter")
        XCTAssertEqual([pool.checkedIn, pool.waiting], [1, 0])
        XCTAssertFalse(log.entries.contains("R"), "\(log.entries)")
    }
}
