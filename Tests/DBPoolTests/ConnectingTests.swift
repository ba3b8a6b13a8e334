import DBPool
import DBPoolTesting
import Foundation
import XCTest

/// How a QueuePool opens connections: at most maxConnecting at once (reconnects of pooled records
/// included), and while connects fail, one attempt per connectBackoff step, with waiters timing out
/// at their deadline and served within maxConnecting once the database is back.
final class ConnectingTests: XCTestCase {
    /// At most maxConnecting connects run at once; the other checkouts wait, and a connection
    /// returned meanwhile serves a waiter instead of a new connect.
    func testAtMostMaxConnectingConnectsRunAtOnce() throws {
        let dbapi = MockDBAPI()
        let connects = ConnectsInFlight()
        let gate = DispatchSemaphore(value: 0)
        dbapi.beforeConnect = { _ in connects.count { gate.wait() } }
        let pool = try lifecyclePool(10, dbapi: dbapi) { $0.maxConnecting = 2 }
        let done = Guarded(0)
        let threads = (0..<5).map { _ in Harness.spawn { if let f = try? pool.connect() { done.update { $0 += 1 }; f.close() } } }
        XCTAssertTrue(Harness.eventually { connects.inFlight.value == 2 && pool.waiting == 3 })
        for _ in 0..<5 { gate.signal() }
        for thread in threads { XCTAssertTrue(thread.finished()) }
        XCTAssertEqual(done.value, 5)
        XCTAssertEqual(connects.most.value, 2)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(pool.checkedIn, dbapi.connections.count, "a connection returned meanwhile served a waiter instead of a new connect")
        XCTAssertLessThanOrEqual(dbapi.connections.count, 5)
    }

    /// Before: reconnects of existing records (here, after `recycle`) ran in the record, outside
    /// the state machine: four at once despite `maxConnecting: 2`, with `connecting` reading 0.
    func testReconnectsCountAgainstMaxConnectingAndShowInConnecting() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try lifecyclePool(4, dbapi: dbapi, clock: clock) {
            $0.maxConnecting = 2
            $0.recycle = .seconds(60)
        }
        let warm = try (0..<4).map { _ in try pool.connect() }
        warm.forEach { $0.close() }
        clock.advance(by: .seconds(61))
        let connects = ConnectsInFlight()
        let gate = DispatchSemaphore(value: 0)
        dbapi.beforeConnect = { _ in connects.count { gate.wait() } }
        let threads = (0..<4).map { _ in Harness.spawn { try? pool.connect().close() } }
        XCTAssertTrue(Harness.eventually { connects.inFlight.value == 2 && pool.waiting == 2 })
        XCTAssertEqual(pool.statistics.connecting, 2)
        for _ in 0..<4 { gate.signal() }
        for thread in threads { XCTAssertTrue(thread.finished()) }
        XCTAssertEqual(connects.most.value, 2)
        XCTAssertEqual(dbapi.connections.count, 4 + 4, "each recycled record reconnected once")
        XCTAssertEqual(pool.statistics.connecting, 0)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    /// Before: during a backoff, a checkout that popped a record without a connection connected
    /// at once and got the creator's error. Now it waits for the next attempt, as a checkout that
    /// needs a new record does, and times out at its deadline.
    func testReconnectsOfPooledRecordsWaitForTheBackoff() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try lifecyclePool(1, timeout: .seconds(1), dbapi: dbapi, clock: clock) {
            $0.connectBackoff = ConnectBackoff(initial: .seconds(60), maximum: .seconds(60))
        }
        try pool.connect().invalidate()
        dbapi.shutdown(true)
        XCTAssertThrowsError(try pool.connect()) { XCTAssertTrue($0 is MockError, "the first attempt gets the creator's error") }
        XCTAssertEqual(dbapi.connectCount, 2)
        let failure = Guarded<String?>(nil)
        let waiter = Harness.spawn { do { _ = try pool.connect() } catch { failure.update { $0 = "\(error)" } } }
        XCTAssertTrue(Harness.eventually { pool.waiting == 1 })
        clock.advance(by: .seconds(1))
        XCTAssertTrue(waiter.finished())
        XCTAssertTrue(failure.value?.hasPrefix("QueuePool limit of size 1") == true, "a timeout, not the creator's error: \(failure.value ?? "")")
        XCTAssertEqual(dbapi.connectCount, 2, "no reconnect during the backoff")
    }

    /// While the database is down, a waiter times out at its deadline on the pool's clock with
    /// the timeout error, and the statistics carry the connect error that says why.
    func testWhileTheDatabaseIsDownWaitersTimeOutAtTheirDeadline() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try lifecyclePool(2, timeout: .milliseconds(80), dbapi: dbapi, clock: clock) {
            $0.connectBackoff = ConnectBackoff(initial: .seconds(60), maximum: .seconds(60))
        }
        dbapi.shutdown(true)
        XCTAssertThrowsError(try pool.connect()) { XCTAssertEqual($0 as? MockError, MockError("connect failed"), "the first failure is the creator's own error") }
        let failure = Guarded<String?>(nil)
        let waiter = Harness.spawn {
            do { _ = try pool.connect() } catch { failure.update { $0 = "\(error)" } }
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 1 })
        // The deadline is on the pool's clock: while the test holds it still, nobody times out.
        XCTAssertFalse(Harness.eventually(.milliseconds(30)) { pool.waiting == 0 })
        clock.advance(by: .milliseconds(80))
        XCTAssertTrue(waiter.finished(within: 5), "released by one advance past the deadline")
        XCTAssertTrue(failure.value?.hasPrefix("QueuePool limit of size 2 overflow -2 reached, connection timed out, timeout 0.08") == true, "\(failure.value ?? "no error")")
        let stats = pool.statistics
        XCTAssertEqual(stats.lastConnectError as? MockError, MockError("connect failed"), "the cause tells 'database down' from 'exhausted'")
        XCTAssertEqual(stats.consecutiveConnectFailures, 1)
        XCTAssertEqual(stats.timeouts, 1)
        XCTAssertEqual(dbapi.connectCount, 1, "no second attempt during the backoff")
    }

    /// Waiters during a backoff cause no connect attempts; each backoff step allows one probe; when
    /// the database comes back every waiter is served, within maxConnecting.
    func testNoThunderingHerdWhenTheDatabaseComesBack() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        // The waiters' timeout is on the pool's clock too, so it must outlast the 7 s advanced below.
        let pool = try lifecyclePool(8, timeout: .seconds(60), dbapi: dbapi, clock: clock) {
            $0.connectBackoff = ConnectBackoff(initial: .seconds(1), maximum: .seconds(8), jitter: 0)
        }
        dbapi.shutdown(true)
        XCTAssertThrowsError(try pool.connect())
        let served = Guarded(0)
        let threads = (0..<8).map { _ in
            Harness.spawn { if let f = try? pool.connect() { served.update { $0 += 1 }; f.close() } }
        }
        XCTAssertTrue(Harness.eventually { pool.waiting == 8 })
        // Each backoff step allows exactly one attempt (a background probe) while the database
        // stays down; the waiters do not see its error, they keep waiting. That waiters make no
        // attempt of their own and that nothing is tried before retryAt is the machine's rule:
        // MachineConnectingTests.testQueuedWaitersAreGivenNoPermitsWhileBackingOff and
        // testWhileBackingOffOnlyOneAttemptRunsAndNotBeforeRetryAt, and
        // MachineMaintenanceTests.testABackoffProbeConnectsForTheQueueOnceRetryAtHasPassed (the
        // second failure waits 2 s). Here the counts must match exactly after each step.
        clock.advance(by: .seconds(1))
        // Wait for the failure, not the attempt: the next retryAt is set when it is recorded.
        XCTAssertTrue(Harness.eventually { pool.statistics.consecutiveConnectFailures == 2 })
        XCTAssertEqual(dbapi.connectCount, 2, "one probe in the first step")
        clock.advance(by: .seconds(2))
        XCTAssertTrue(Harness.eventually { pool.statistics.consecutiveConnectFailures == 3 })
        XCTAssertEqual(dbapi.connectCount, 3, "one probe in the second step")
        XCTAssertEqual(pool.waiting, 8)
        // The database comes back: one probe succeeds, then everyone is served.
        let connects = ConnectsInFlight()
        dbapi.shutdown(false)
        dbapi.beforeConnect = { _ in connects.count { usleep(2_000) } }
        clock.advance(by: .seconds(4))
        for thread in threads { XCTAssertTrue(thread.finished(within: 20)) }
        XCTAssertEqual(served.value, 8)
        XCTAssertLessThanOrEqual(connects.most.value, 2, "recovery connects within maxConnecting")
        XCTAssertEqual(pool.statistics.consecutiveConnectFailures, 0)
        XCTAssertEqual(pool.checkedOut, 0)
    }
}

/// Counts the connects running at once, and the most there ever were, for a `beforeConnect` hook.
private final class ConnectsInFlight: Sendable {
    let inFlight = Guarded(0)
    let most = Guarded(0)

    /// Runs `hold` (which keeps the connect open) counted as one connect in flight.
    func count(_ hold: () -> Void) {
        let now = inFlight.update {
            $0 += 1; return $0
        }
        most.update { $0 = max($0, now) }
        hold()
        inFlight.update { $0 -= 1 }
    }
}
