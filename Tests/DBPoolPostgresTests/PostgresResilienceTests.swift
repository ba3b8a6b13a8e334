import DBPool
import DBPoolPostgres
import DBPoolTesting
import Foundation
import XCTest

/// The pool against a real PostgreSQL that goes away and comes back.
final class PostgresResilienceTests: XCTestCase {
    /// Connections of these tests carry this application name, so that `pg_stat_activity` can
    /// count exactly the backends the pool holds.
    private let applicationName = "dbpool-resilience-\(getpid())"

    private func pooledURL() throws -> String {
        let url = try postgresURL()
        return url + (url.contains("?") ? "&" : "?") + "application_name=\(applicationName)"
    }

    /// Backends opened by this test's pool, counted from a separate admin connection.
    private func backendCount() throws -> Int {
        let admin = try PostgresConnection(url: try postgresURL())
        defer { try? admin.close() }
        let rows = try admin.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = '\(applicationName)'")
        return Int(rows.first?.first.flatMap { $0 } ?? "") ?? -1
    }

    /// Waits (bounded) until `pg_stat_activity` agrees: backends go away asynchronously.
    private func waitForBackends(_ expected: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let deadline = ContinuousClock.now + .seconds(10)
        var count = try backendCount()
        while count != expected && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
            count = try backendCount()
        }
        XCTAssertEqual(count, expected, "backends of this pool in pg_stat_activity", file: file, line: line)
    }

    func testRecycleReplacesServerBackends() throws {
        let clock = ManualClock()
        let url = try pooledURL()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0,
            options: PoolOptions(recycle: .seconds(30), clock: clock, logHandler: .disabled),
            dialect: PostgresDialect()
        ) { try PostgresConnection(url: url) }
        let first = try pool.withConnection { $0.backendPID }
        clock.advance(by: .seconds(30))
        XCTAssertEqual(try pool.withConnection { $0.backendPID }, first, "not older than recycle yet")
        clock.advance(by: .seconds(1))
        let second = try pool.withConnection { $0.backendPID }
        XCTAssertNotEqual(second, first, "recycle opened a new server backend")
        try waitForBackends(1)
        pool.dispose()
        try waitForBackends(0)
    }

    /// A full server restart while threads use the pool: no checkout hangs past its timeout, the
    /// same pool recovers without being recreated, and no connection leaks.
    func testServerRestartWhileThePoolIsInUse() throws {
        let url = try pooledURL()
        let timeout = Duration.seconds(2)
        let pool = try QueuePool(
            poolSize: 3, maxOverflow: 1, timeout: timeout,
            options: PoolOptions(prePing: true, logHandler: .disabled),
            dialect: PostgresDialect()
        ) { try PostgresConnection(url: url) }
        let stop = Guarded(false)
        let outcomes = Guarded<[String: Int]>([:])
        let longest = Guarded(Duration.zero)
        let workers = (0..<4).map { _ in
            Thread.detachNewThreadWithGroup {
                while !stop.value {
                    let start = ContinuousClock.now
                    do {
                        let rows = try pool.withConnection { try $0.dbapiConnection!.query("SELECT 1") }
                        outcomes.update { $0[rows == [["1"]] ? "ok" : "wrong", default: 0] += 1 }
                    } catch let error as PoolError {
                        outcomes.update { $0["pool: \(error)", default: 0] += 1 }
                    } catch {
                        outcomes.update { $0["driver", default: 0] += 1 }
                        Thread.sleep(forTimeInterval: 0.005)
                    }
                    let took = ContinuousClock.now - start
                    longest.update { $0 = max($0, took) }
                }
            }
        }
        // Under way before the restart: a count of successes, not a fixed sleep.
        let warm = ContinuousClock.now + .seconds(10)
        while outcomes.value["ok", default: 0] < 40 && ContinuousClock.now < warm {
            Thread.sleep(forTimeInterval: 0.002)
        }
        XCTAssertGreaterThanOrEqual(outcomes.value["ok", default: 0], 40, "the pool works before the restart")
        try restartServer()
        // After the restart, the pool must serve again without being recreated.
        let okBefore = outcomes.value["ok", default: 0]
        let deadline = ContinuousClock.now + .seconds(20)
        while outcomes.value["ok", default: 0] < okBefore + 50 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        stop.update { $0 = true }
        for worker in workers { XCTAssertEqual(worker.wait(timeout: .now() + 30), .success) }
        XCTAssertGreaterThanOrEqual(outcomes.value["ok", default: 0], okBefore + 50, "recovered after the restart: \(outcomes.value)")
        XCTAssertEqual(outcomes.value["wrong", default: 0], 0)
        XCTAssertLessThan(longest.value, timeout + .seconds(3), "no checkout hung past its timeout")
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertLessThanOrEqual(try backendCount(), 4, "never more than size + overflow backends")
        pool.dispose()
        try waitForBackends(0)
    }
}

extension Thread {
    /// Starts `body` on a new thread; the group is left when it returns.
    static func detachNewThreadWithGroup(_ body: @escaping @Sendable () -> Void) -> DispatchGroup {
        let group = DispatchGroup()
        group.enter()
        Thread.detachNewThread {
            body()
            group.leave()
        }
        return group
    }
}

/// A value behind a lock, for the worker threads.
// @unchecked Sendable: `stored` is only touched between lock() and unlock().
final class Guarded<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.lock(); defer { lock.unlock() }; return stored }
    @discardableResult
    func update<R>(_ body: (inout Value) -> R) -> R { lock.lock(); defer { lock.unlock() }; return body(&stored) }
}
