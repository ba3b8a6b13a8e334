import DBPool
import DBPoolSQLite
import Foundation
import Synchronization
import XCTest

/// A counter shared with `@Sendable` creator closures.
final class Counter: Sendable {
    private let value = Mutex(0)
    /// Adds one and returns the new value.
    @discardableResult func increment() -> Int {
        value.withLock {
            $0 += 1; return $0
        }
    }
    var current: Int { value.withLock { $0 } }
}

/// ``QueuePool`` driving real ``SQLiteConnection``s through ``SQLiteDialect``.
final class SQLitePoolIntegrationTests: XCTestCase {
    private var tempDirectory: URL!

    override func setUpWithError() throws {
        tempDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("dbpool-sqlite-pool-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: tempDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let tempDirectory { try? FileManager.default.removeItem(at: tempDirectory) }
    }

    /// A pool over a fresh database file holding `CREATE TABLE t(x)`, and its creator count.
    private func makePool(poolSize: Int = 1, maxOverflow: Int = 0, options: PoolOptions = PoolOptions(logHandler: .disabled))
        throws -> (QueuePool<SQLiteConnection>, Counter)
    {
        let path = tempDirectory.appendingPathComponent("pool.db").path
        let setup = try SQLiteConnection(path: path)
        try setup.execute("CREATE TABLE IF NOT EXISTS t(x)")
        try setup.close()
        let created = Counter()
        let pool = try QueuePool(
            poolSize: poolSize, maxOverflow: maxOverflow, timeout: .seconds(30),
            options: options, dialect: SQLiteDialect()
        ) {
            created.increment()
            return try SQLiteConnection(path: path)
        }
        return (pool, created)
    }

    func testResetOnReturnRollsBackAnUncommittedWrite() throws {
        let (pool, created) = try makePool()
        defer { pool.dispose() }
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        try conn.execute("BEGIN; INSERT INTO t VALUES (1)")
        XCTAssertTrue(fairy.inTransaction, "dynamic member lookup reaches the connection")
        fairy.close()
        XCTAssertFalse(conn.inTransaction, "the pool rolled back on return")

        let again = try pool.connect()
        defer { again.close() }
        XCTAssertTrue(again.dbapiConnection === conn, "pool size 1 hands the same connection back")
        XCTAssertEqual(try conn.query("SELECT count(*) FROM t"), [["0"]])
        XCTAssertEqual(created.current, 1)
    }

    func testResetOnReturnCommitPersists() throws {
        let (pool, _) = try makePool(options: PoolOptions(resetOnReturn: .commit, logHandler: .disabled))
        defer { pool.dispose() }
        try pool.withConnection { fairy in
            try XCTUnwrap(fairy.dbapiConnection).execute("BEGIN; INSERT INTO t VALUES (1)")
        }
        let reader = try SQLiteConnection(path: tempDirectory.appendingPathComponent("pool.db").path)
        defer { try? reader.close() }
        XCTAssertEqual(try reader.query("SELECT count(*) FROM t"), [["1"]])
    }

    func testPrePingReplacesASimulatedDisconnect() throws {
        let (pool, created) = try makePool(options: PoolOptions(prePing: true, logHandler: .disabled))
        defer { pool.dispose() }
        let fairy = try pool.connect()
        let first = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        // Break the idle pooled connection behind the pool's back.
        first.simulateDisconnect()

        let replaced = try pool.connect()
        defer { replaced.close() }
        let second = try XCTUnwrap(replaced.dbapiConnection)
        XCTAssertFalse(second === first, "the failed ping replaced the connection")
        XCTAssertEqual(try second.query("SELECT 1"), [["1"]])
        XCTAssertEqual(created.current, 2)
    }

    func testDisconnectInsideWithConnectionInvalidatesTheConnection() throws {
        let (pool, created) = try makePool()
        defer { pool.dispose() }
        XCTAssertThrowsError(
            try pool.withConnection { fairy in
                let conn = try XCTUnwrap(fairy.dbapiConnection)
                conn.simulateDisconnect()
                _ = try conn.query("SELECT 1")
            }
        ) { error in
            XCTAssertTrue(SQLiteDialect().isDisconnect(error, connection: nil), "\(error)")
        }
        // The broken connection was invalidated, not pooled: the next checkout connects anew.
        let rows = try pool.withConnection { try XCTUnwrap($0.dbapiConnection).query("SELECT count(*) FROM t") }
        XCTAssertEqual(rows, [["0"]])
        XCTAssertEqual(created.current, 2)
        XCTAssertEqual(pool.checkedOut, 0)
    }

    func testFourThreadsShareATwoConnectionPool() throws {
        let (pool, created) = try makePool(poolSize: 2)
        defer { pool.dispose() }
        let threads = 4
        let iterations = 25
        let failures = Failures()
        let done = DispatchSemaphore(value: 0)
        for thread in 0..<threads {
            Thread {
                defer { done.signal() }
                for i in 0..<iterations {
                    do {
                        try pool.withConnection { fairy in
                            let conn = try XCTUnwrap(fairy.dbapiConnection)
                            try conn.execute("BEGIN IMMEDIATE; INSERT INTO t VALUES (\(thread * 1000 + i))")
                            try conn.commit()
                        }
                    } catch {
                        failures.append("thread \(thread) iteration \(i): \(error)")
                    }
                }
            }.start()
        }
        for _ in 0..<threads {
            XCTAssertEqual(done.wait(timeout: .now() + 60), .success, "a worker did not finish in 60 s")
        }
        XCTAssertEqual(failures.all, [])
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertLessThanOrEqual(created.current, 2)
        let rows = try pool.withConnection { try XCTUnwrap($0.dbapiConnection).query("SELECT count(*) FROM t") }
        XCTAssertEqual(rows, [["\(threads * iterations)"]])
    }
}
