import DBPool
import DBPoolPostgres
import Foundation
import XCTest

/// A QueuePool whose libpq URL names a primary and its standby with
/// `target_session_attrs=read-write`, written to from 16 threads and 64 tasks while the primary
/// crashes (`pg_ctl stop -m immediate`) and the standby is promoted.
///
/// The pair comes from scripts/pg-failover, separate from the server the other tests use, and
/// is thrown away afterwards. Its replication is synchronous, which is what makes "every write
/// reported committed is on the new primary" a guarantee rather than a likelihood.
final class FailoverTests: XCTestCase {
    private let timeout = Duration.seconds(1)

    private func failoverFile(_ name: String) throws -> String {
        let dir = try requiredEnvironment("DBPOOL_PG_WORK_DIR")
        return try String(contentsOfFile: "\(dir)/failover/\(name)", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func port(of url: String) throws -> String {
        let connection = try PostgresConnection(url: url)
        defer { try? connection.close() }
        return try XCTUnwrap(connection.query("SELECT inet_server_port()").first?.first ?? nil)
    }

    func testWritesSurviveAFailoverToThePromotedStandby() throws {
        try runHelper("DBPOOL_PG_FAILOVER_CMD", "setup")
        defer { try? runHelper("DBPOOL_PG_FAILOVER_CMD", "teardown") }
        let url = try failoverFile("url"), primaryURL = try failoverFile("primary-url"), standbyURL = try failoverFile("standby-url")
        let primaryPort = try port(of: primaryURL), standbyPort = try port(of: standbyURL)
        let setup = try PostgresConnection(url: primaryURL)
        try setup.execute("CREATE TABLE writes(id bigint PRIMARY KEY, port int NOT NULL)")
        try setup.close()

        let invalidations = Counter()
        let log = PoolLogHandler(level: .info) { message in
            if message.message.hasPrefix("Pool-wide invalidation") { invalidations.increment() }
        }
        // No pre-ping: the disconnect must surface in withConnection's body, which then
        // invalidates the whole pool.
        let pool = try QueuePool(
            poolSize: 4, maxOverflow: 4, timeout: timeout,
            options: PoolOptions(logHandler: log), dialect: PostgresDialect()
        ) {
            try PostgresConnection(url: url)
        }
        defer { pool.dispose() }
        let recorder = LoadRecorder(limit: timeout + .milliseconds(250))
        let ids = Counter()
        let committed = Guarded<[Int: String]>([:])  // id → port of the server that acknowledged it
        let firstOnNewPrimary = Guarded<ContinuousClock.Instant?>(nil)
        let stop = StopFlag()

        let write: @Sendable (PostgresConnection) throws -> (Int, String) = { connection in
            let id = ids.increment()
            let rows = try connection.query("INSERT INTO writes VALUES (\(id), inet_server_port()) RETURNING port")
            return (id, rows.first?.first.flatMap { $0 } ?? "?")
        }
        let note: @Sendable ((Int, String)?) -> Bool = { result in
            guard let (id, port) = result else { return false }
            committed.update { $0[id] = port }
            if port == standbyPort { firstOnNewPrimary.update { $0 = $0 ?? .now } }
            return true
        }
        let load = WorkerLoad(
            threads: 16, tasks: 64,
            thread: { _ in
                for _ in 0..<100_000 where !stop.isRaised {
                    if !note(recordedCheckout(pool, recorder, write)) { Thread.sleep(forTimeInterval: 0.005) }
                }
            },
            task: { _ in
                for _ in 0..<100_000 where !stop.isRaised {
                    if !note(await recordedCheckout(pool, recorder, write)) { try? await Task.sleep(for: .milliseconds(5)) }
                }
            })
        func waitFor(seconds: Int, _ condition: () -> Bool) {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while !condition() && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
        }
        waitFor(seconds: 20) { committed.value.count >= 300 }

        let stoppedAt = ContinuousClock.now
        try runHelper("DBPOOL_PG_FAILOVER_CMD", "stop-primary")
        let committedBeforeStop = committed.value.filter { $0.value == primaryPort }
        try runHelper("DBPOOL_PG_FAILOVER_CMD", "promote")
        let promotedAt = ContinuousClock.now
        waitFor(seconds: 20) { committed.value.values.filter { $0 == standbyPort }.count >= 200 }
        stop.raise()
        XCTAssertTrue(load.wait(seconds: 30), "the workers stopped")

        let counts = recorder.counts
        XCTAssertGreaterThanOrEqual(committedBeforeStop.count, 300, "writes before the crash: \(counts)")
        XCTAssertEqual(recorder.unclear, [:], "every failure was a pool timeout or a recognised disconnect")
        XCTAssertGreaterThan(counts.filter { $0.key.hasPrefix("disconnect") }.values.reduce(0, +), 0, "the crash was seen: \(counts)")
        XCTAssertEqual(recorder.overdue, 0, "no checkout past its deadline by 250 ms; longest \(recorder.longestCheckout)")
        XCTAssertLessThanOrEqual(pool.statistics.maxWaitTime, timeout + .milliseconds(250), "longest queue wait")
        XCTAssertGreaterThanOrEqual(invalidations.current, 1, "a disconnect invalidated the whole pool")
        XCTAssertGreaterThan(pool.statistics.closes[.invalidated, default: 0], 0, "\(pool.statistics)")

        let firstWrite = try XCTUnwrap(firstOnNewPrimary.value, "no write reached the new primary: \(counts)")
        XCTAssertLessThan(firstWrite - stoppedAt, .seconds(5), "writes land on the new primary within seconds")

        // Every connection the pool can hand out now is on the new primary: none to the dead
        // one stayed pooled. All eight at once, so that none is skipped.
        var fairies: [ConnectionFairy<PostgresConnection>] = []
        defer { for fairy in fairies { fairy.close() } }
        for _ in 0..<8 {
            let fairy = try pool.connect()
            fairies.append(fairy)
            XCTAssertEqual(
                try XCTUnwrap(fairy.dbapiConnection).query("SELECT pg_is_in_recovery(), inet_server_port()"),
                [["f", standbyPort]])
        }

        let newPrimary = try PostgresConnection(url: standbyURL)
        defer { try? newPrimary.close() }
        let present = Set(try newPrimary.query("SELECT id FROM writes").compactMap { $0.first.flatMap { $0 }.flatMap(Int.init) })
        let acknowledged = committed.value
        let lost = acknowledged.keys.filter { !present.contains($0) }
        XCTAssertEqual(lost.count, 0, "writes reported committed but missing after the failover: \(lost.sorted().prefix(20))")
        XCTAssertTrue(committedBeforeStop.keys.allSatisfy(present.contains), "every write acknowledged by the old primary survived")

        let failures = counts.filter { $0.key != "ok" }
        print(
            """
            failover: \(committedBeforeStop.count) writes before the crash, promote done after \(promotedAt - stoppedAt), \
            first write on the new primary after \(firstWrite - stoppedAt); failed checkouts \(failures); \
            longest checkout \(recorder.longestCheckout); \(present.count - acknowledged.count) in-doubt writes present; \
            pool-wide invalidations \(invalidations.current); \(pool.statistics)
            """)
    }
}
