import BenchSupport
import DBPool
import DBPoolSQLite
import Foundation
import Synchronization

final class Counter: Sendable {
    let value = Atomic<Int>(0)
    func increment() { value.wrappingAdd(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// (b): 8 async checkouts on a cold QueuePool(8, 0) whose creator sleeps 200 ms (a remote
/// database), each holding its connection `holdMs` (a blocking sleep in the body: driver work).
func coldPool(driverThreads: DriverThreads, holdMs: Int) async -> (gapMs: Double, wallMs: Double, opened: Int) {
    let opened = Counter()
    let pool = try! QueuePool(poolSize: 8, maxOverflow: 0, options: PoolOptions(driverThreads: driverThreads)) {
        usleep(200_000)
        opened.increment()
        return NoOpConnection()
    }
    let wall = Slots<UInt64>(count: 1, initial: 0)
    let gap = await Heartbeat.measure {
        let start = nowNs()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try! await pool.withConnection { _ in if holdMs > 0 { usleep(UInt32(holdMs * 1000)) } }
                }
            }
        }
        wall[0] = nowNs() &- start
    }
    await pool.shutdown(gracePeriod: .seconds(1))
    return (gap, Double(wall[0]) / 1e6, opened.count)
}

/// (c): one task holds `BEGIN IMMEDIATE` on a SQLite file across an `await` (300 ms); three
/// other async writers contend for the write lock, waiting in SQLite's busy handler (timeout 2 s).
func sqliteWriters(driverThreads: DriverThreads) async -> (gapMs: Double, failures: Int) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dbpool-bench-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("bench.sqlite").path
    do {
        let setup = try! SQLiteConnection(path: path)
        try! setup.execute("PRAGMA journal_mode=WAL")
        try! setup.execute("CREATE TABLE t (x INTEGER)")
        try! setup.close()
    }
    let pool = try! QueuePool(poolSize: 4, maxOverflow: 0, options: PoolOptions(driverThreads: driverThreads),
                              dialect: SQLiteDialect()) { try SQLiteConnection(path: path, busyTimeout: .seconds(2)) }
    // Open the four connections first, so the scenario measures only the lock wait.
    var fairies: [ConnectionFairy<SQLiteConnection>] = []
    for _ in 0..<4 { fairies.append(try! await pool.connect()) }
    for fairy in fairies { await fairy.closeAndWait() }
    let failures = Counter()
    let gap = await Heartbeat.measure {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try! await pool.withConnection { fairy in
                    try fairy.connection.execute("BEGIN IMMEDIATE")
                    try fairy.connection.execute("INSERT INTO t VALUES (0)")
                    try await Task.sleep(for: .milliseconds(300))
                    try fairy.connection.execute("COMMIT")
                }
            }
            try? await Task.sleep(for: .milliseconds(20))
            for i in 1...3 {
                group.addTask {
                    do {
                        try await pool.withConnection { fairy in
                            // BEGIN IMMEDIATE waits for the write lock in the busy handler; a
                            // bare INSERT may instead fail at once when its read snapshot is stale.
                            try fairy.connection.execute("BEGIN IMMEDIATE")
                            try fairy.connection.execute("INSERT INTO t VALUES (\(i))")
                            try fairy.connection.execute("COMMIT")
                        }
                    } catch {
                        failures.increment()
                        FileHandle.standardError.write("(c) writer \(i) failed: \(error)\n".data(using: .utf8)!)
                    }
                }
            }
        }
    }
    await pool.shutdown(gracePeriod: .seconds(1))
    return (gap, failures.count)
}
