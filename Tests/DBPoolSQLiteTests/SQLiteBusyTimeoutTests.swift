import CSQLite3
import DBPool
import DBPoolSQLite
import Foundation
import XCTest

/// ``SQLiteConnection``'s busy timeout: how long a connection waits for another one's write lock,
/// and several writer threads serialised by it.
final class SQLiteBusyTimeoutTests: TemporaryDirectoryTestCase {
    func testBusyTimeoutIsConfigurable() throws {
        let path = tempPath()
        let holder = try SQLiteConnection(path: path)
        defer { try? holder.close() }
        try holder.execute("CREATE TABLE t(x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")

        // No wait at all: SQLITE_BUSY at once, which is not a disconnect.
        let impatient = try SQLiteConnection(path: path, busyTimeout: .zero)
        defer { try? impatient.close() }
        let clock = ContinuousClock()
        var start = clock.now
        let busy = try XCTUnwrap(expectSQLiteError { try impatient.execute("INSERT INTO t VALUES (2)") })
        XCTAssertEqual(busy.code, SQLITE_BUSY)
        XCTAssertFalse(SQLiteDialect().isDisconnect(busy, connection: impatient))
        XCTAssertLessThan(clock.now - start, .milliseconds(250))

        // A short timeout waits that long before giving up. (SQLite's busy handler sleeps until
        // the sum of its sleeps reaches the timeout, so the wait is never shorter.)
        let patient = try SQLiteConnection(path: path, busyTimeout: .milliseconds(80))
        defer { try? patient.close() }
        start = clock.now
        let late = try XCTUnwrap(expectSQLiteError { try patient.execute("INSERT INTO t VALUES (3)") })
        XCTAssertEqual(late.code, SQLITE_BUSY)
        XCTAssertGreaterThanOrEqual(clock.now - start, .milliseconds(75))

        // Once the lock is released, the waiting connection gets through.
        try holder.commit()
        try patient.execute("INSERT INTO t VALUES (3)")
        XCTAssertEqual(try holder.query("SELECT count(*) FROM t"), [["2"]])
    }

    func testConcurrentWritersWithBusyTimeout() throws {
        let path = tempPath("concurrent.db")
        let setup = try SQLiteConnection(path: path)
        try setup.execute("CREATE TABLE t(thread INTEGER, i INTEGER, PRIMARY KEY (thread, i))")
        try setup.close()

        let threadCount = 4
        let iterations = 40
        let failures = Failures()
        let done = DispatchSemaphore(value: 0)
        for thread in 0..<threadCount {
            let worker = Thread {
                defer { done.signal() }
                do {
                    // Each thread has its own connection; the default 5 s busy timeout serialises them.
                    let conn = try SQLiteConnection(path: path)
                    defer { try? conn.close() }
                    for i in 0..<iterations {
                        if i.isMultiple(of: 2) {
                            // Autocommit insert.
                            try conn.execute("INSERT INTO t VALUES (\(thread), \(i))")
                        } else {
                            // An explicit write transaction, committed through the DB-API method.
                            try conn.execute("BEGIN IMMEDIATE; INSERT INTO t VALUES (\(thread), \(i))")
                            _ = try conn.query("SELECT count(*) FROM t WHERE thread = \(thread)")
                            try conn.commit()
                        }
                    }
                } catch {
                    failures.append("thread \(thread): \(error)")
                }
            }
            worker.start()
        }
        for _ in 0..<threadCount {
            XCTAssertEqual(done.wait(timeout: .now() + 60), .success, "a writer thread did not finish in 60 s")
        }
        XCTAssertEqual(failures.all, [])

        let check = try SQLiteConnection(path: path)
        defer { try? check.close() }
        XCTAssertEqual(try check.query("SELECT count(*) FROM t"), [["\(threadCount * iterations)"]])
        XCTAssertEqual(try check.query("SELECT count(DISTINCT thread) FROM t"), [["\(threadCount)"]])
    }
}
