import DBPool
import DBPoolTesting
import XCTest

/// `shutdown(gracePeriod:)` for every pool kind, through the `Pool` protocol, and its answer to
/// cancellation (QueuePool's other shutdown behaviour is in LifecycleTests).
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
}
