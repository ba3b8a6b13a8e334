import DBPool
import DBPoolTesting
import Foundation
import XCTest

/// `shutdown(gracePeriod:)`: for every pool kind through the `Pool` protocol, its answer to
/// cancellation, and QueuePool's waiters, late returns and grace period.
final class ShutdownTests: XCTestCase {
    private func everyKind(_ dbapi: MockDBAPI) throws -> [any Pool<MockConnection>] {
        [
            try QueuePool(poolSize: 2, maxOverflow: 0, options: quietOptions, dialect: MockDialect(), creator: dbapi.creator()),
            try NullPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator()),
            try StaticPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator()),
            try SingletonThreadPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator()),
            try AssertionPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        ]
    }

    func testEveryKindShutsDownClosesIdleAndRefusesCheckouts() throws {
        let dbapi = MockDBAPI()
        for pool in try everyKind(dbapi) {
            let kind = pool.status()
            try pool.connect().close()
            XCTAssertEqual(pool.shutdown(gracePeriod: .zero), 0, kind)
            XCTAssertThrowsError(try pool.connect(), kind) { error in
                guard case .shutDown? = error as? PoolError else { return XCTFail("\(kind): \(error)") }
            }
        }
        XCTAssertEqual(dbapi.openConnections.count, 0, "every idle connection was closed")
    }

    func testEveryKindClosesAConnectionReturnedAfterTheGracePeriod() throws {
        let dbapi = MockDBAPI()
        for pool in try everyKind(dbapi) {
            let kind = pool.status()
            let kept = try pool.connect()
            XCTAssertEqual(pool.shutdown(gracePeriod: .milliseconds(5)), 1, kind)
            let connection = kept.dbapiConnection!
            XCTAssertFalse(connection.closed, "\(kind): not closed under its holder's feet")
            kept.close()
            XCTAssertTrue(connection.closed, "\(kind): closed when it came back")
        }
    }

    func testEveryKindsAsyncShutdownWaitsForAReturnWithinTheGracePeriod() async throws {
        let dbapi = MockDBAPI()
        for pool in try everyKind(dbapi) where !(pool is SingletonThreadPool<MockConnection>) {
            let kind = pool.status()
            let kept = try await pool.connect()
            let returner = Task {
                try await Task.sleep(for: .milliseconds(5))
                await kept.closeAndWait()
            }
            let leftover = await pool.shutdown(gracePeriod: .seconds(5))
            XCTAssertEqual(leftover, 0, kind)
            try await returner.value
        }
        XCTAssertEqual(dbapi.openConnections.count, 0)
    }

    /// Before: a cancelled shutdown kept polling for its whole grace period, because
    /// `try? await Task.sleep` swallowed the cancellation. Now it returns at once, the pool
    /// shut down all the same.
    func testACancelledAsyncShutdownReturnsPromptly() async throws {
        let dbapi = MockDBAPI()
        for pool in try everyKind(dbapi) where !(pool is SingletonThreadPool<MockConnection>) {
            let kind = pool.status()
            let kept = try await pool.connect()
            let shutdown = Task { await pool.shutdown(gracePeriod: .seconds(30)) }
            try await Task.sleep(for: .milliseconds(5))
            let start = ContinuousClock.now
            shutdown.cancel()
            let leftover = await shutdown.value
            XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), kind)
            XCTAssertEqual(leftover, 1, kind)
            do {
                _ = try await pool.connect()
                XCTFail("\(kind): checked out after shutdown")
            } catch PoolError.shutDown {}
            await kept.closeAndWait()
        }
        XCTAssertEqual(dbapi.openConnections.count, 0)
    }

    /// QueuePool: shutdown fails the waiters with PoolError.shutDown, refuses new checkouts, waits for
    /// the connection out to come back and closes it; dispose() is harmless afterwards, and
    /// recreate() gives a running pool.
    func testShutdownFailsWaitersRejectsNewCheckoutsAndClosesReturns() throws {
        let dbapi = MockDBAPI()
        let pool = try lifecyclePool(1, timeout: nil, dbapi: dbapi)
        let held = try pool.connect()
        let waiterError = Guarded<String?>(nil)
        let waiter = Harness.spawn {
            do { _ = try pool.connect() } catch { waiterError.update { $0 = "\(error)" } }
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 1 })
        let returned = Harness.spawn {
            usleep(20_000)
            held.close()
        }
        let leftover = pool.shutdown(gracePeriod: .seconds(5))
        XCTAssertEqual(leftover, 0)
        XCTAssertTrue(waiter.finished())
        XCTAssertTrue(returned.finished())
        XCTAssertEqual(waiterError.value, PoolError.shutDown.description)
        XCTAssertThrowsError(try pool.connect()) { XCTAssertEqual(($0 as? PoolError)?.description, PoolError.shutDown.description) }
        XCTAssertTrue(dbapi.connections.allSatisfy(\.closed))
        XCTAssertEqual(pool.statistics.closes[.shutdown], 1)
        XCTAssertTrue(pool.isShutDown)
        pool.dispose()  // harmless afterwards
        let fresh = pool.recreate()
        let fairy = try fresh.connect()
        XCTAssertTrue(fairy.isValid, "recreate() gives a running pool")
        fairy.close()
    }


    /// QueuePool: when the grace period ends with a connection still out, shutdown returns how many
    /// are out and logs where each was checked out; the connection is closed when it comes back.
    func testShutdownGracePeriodEndsWithConnectionsStillOut() async throws {
        let dbapi = MockDBAPI()
        let messages = Guarded<[String]>([])
        var options = PoolOptions(logHandler: PoolLogHandler(level: .warning) { m in messages.update { $0.append(m.message) } })
        options.idleTimeout = .seconds(60)
        let pool = try QueuePool(poolSize: 2, maxOverflow: 0, options: options, dialect: MockDialect(), creator: dbapi.creator())
        let kept = try await pool.connect()
        let start = ContinuousClock.now
        let leftover = await pool.shutdown(gracePeriod: .milliseconds(30))
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(25))
        XCTAssertEqual(leftover, 1)
        XCTAssertTrue(messages.value.contains { $0.contains("still checked out at DBPoolTests/ShutdownTests.swift:") }, "\(messages.value)")
        XCTAssertFalse(kept.dbapiConnection!.closed, "not closed under its holder's feet")
        await kept.closeAndWait()
        XCTAssertTrue(dbapi.connections[0].closed, "closed when it came back")
        XCTAssertEqual(pool.checkedOut, 0)
    }
}
