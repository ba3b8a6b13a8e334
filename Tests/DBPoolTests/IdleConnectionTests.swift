import DBPool
import DBPoolTesting
import Foundation
import XCTest

/// idleTimeout and keepAlive, run by the maintenance thread on the pool's clock: idle connections
/// above minIdle close after idleTimeout, and keepAlive pings idle connections (replacing dead
/// ones) without counting the ping as a use.
final class IdleConnectionTests: XCTestCase {
    func testIdleTimeoutClosesIdleConnectionsAboveMinIdle() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try lifecyclePool(dbapi: dbapi, clock: clock) {
            $0.minIdle = 1; $0.idleTimeout = .seconds(60)
        }
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)
        let fairies = try (0..<3).map { _ in try pool.connect() }
        fairies.forEach { $0.close() }
        // While all three were out, the maintenance thread may have started one more for minIdle;
        // one in flight shows in `connecting`, and none starts now that three are idle.
        XCTAssertTrue(Harness.eventually { pool.statistics.connecting == 0 })
        let idleBefore = pool.checkedIn
        XCTAssertTrue((3...4).contains(idleBefore), "\(idleBefore)")
        // Not closed before the timeout: MachineMaintenanceTests.testIdleRecordsPastIdleTimeoutAreClosedDownToMinIdle.
        clock.advance(by: .seconds(61))
        // The idle store shrinks under the lock first; the closes follow outside it, and the
        // slots are given back (checkedOut back to 0) only once every close has finished.
        XCTAssertTrue(
            Harness.eventually {
                pool.checkedIn == 1 && pool.checkedOut == 0 && pool.statistics.closes[.idleTimeout] == idleBefore - 1
            }, "closed down to minIdle")
        XCTAssertEqual(recorder.count(.close), idleBefore - 1)
        XCTAssertEqual(dbapi.openConnections.count, 1)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    func testKeepAlivePingsIdleConnectionsAndReplacesDeadOnes() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try lifecyclePool(dbapi: dbapi, clock: clock) { $0.keepAlive = .seconds(30) }
        let a = try pool.connect()
        let b = try pool.connect()
        let healthy = a.dbapiConnection!
        let dead = b.dbapiConnection!
        a.close()
        b.close()
        dead.failPing = .disconnect
        healthy.resetCalls()
        clock.advance(by: .seconds(31))
        XCTAssertTrue(Harness.eventually { dead.closed && dbapi.connections.count == 3 && pool.checkedIn == 2 })
        XCTAssertTrue(healthy.calls.contains("cursor()"), "the healthy connection was pinged")
        XCTAssertFalse(healthy.closed)
        XCTAssertEqual(pool.statistics.closes[.invalidated], 1)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    /// Before: each keep-alive ping came back through the return path, which restarted the idle
    /// timer, so with keepAlive < idleTimeout an unused connection never idled out. A ping is not
    /// a use.
    func testKeepAlivePingsDoNotRestartTheIdleTimer() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try lifecyclePool(dbapi: dbapi, clock: clock) {
            $0.keepAlive = .seconds(30)
            $0.idleTimeout = .seconds(60)
        }
        let connection = try pool.withConnection { $0.connection }
        clock.advance(by: .seconds(31))
        XCTAssertTrue(Harness.eventually { connection.calls.contains("cursor()") }, "pinged at 31 s")
        XCTAssertFalse(connection.closed)
        clock.advance(by: .seconds(30))
        XCTAssertTrue(Harness.eventually { connection.closed }, "unused for 61 s: closed by the idle timeout")
        XCTAssertEqual(pool.statistics.closes[.idleTimeout], 1)
        XCTAssertEqual(pool.checkedIn, 0)
        XCTAssertEqual(pool.checkedOut, 0)
    }
}
