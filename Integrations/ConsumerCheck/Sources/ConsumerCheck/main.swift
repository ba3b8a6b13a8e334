// Each Integrations product, used the way its documentation shows (README's "Integrations",
// Async Drivers, and each module's .docc page), from a package that depends on Integrations/ by
// path: if a documented call stops compiling, or compiles with a warning in Swift 6 mode, the
// consumer check in scripts/test fails.
//
// Run with DBPOOL_POSTGRES_URL set (scripts/with-postgres sets it), it also runs each example
// once against that server and exits non-zero if one goes wrong. Without it, it only says so.
import DBPool
import DBPoolLogging
import DBPoolMetrics
import DBPoolPostgresNIO
import DBPoolServiceLifecycle
import Foundation
import Logging
import ServiceLifecycle

/// A blocking driver of the consumer's own, as DBPoolLogging's example pools one.
final class MyConnection: DBAPIConnection {
    func rollback() throws {}
    func commit() throws {}
    func close() throws {}
}

/// DBPoolPostgresNIO's overview: a QueuePool of postgres-nio connections, a query whose rows are
/// decoded. Returns the pool for the other examples.
func postgresNIOExample(host: String, port: Int, username: String, password: String?, database: String?) async throws
    -> (QueuePool<PooledPostgresConnection>, Int)
{
    let pool = try await QueuePool(
        poolSize: 10, options: PoolOptions(prePing: true), dialect: PostgresNIODialect(),
        creator: PostgresNIODialect.creator(host: host, port: port, username: username, password: password, database: database))
    let count = try await pool.withConnection { fairy in
        let rows = try await fairy.dbapiConnection!.query("SELECT count(*)::int FROM (VALUES (1), (2), (3)) AS orders (id)")
        var n = 0
        for try await value in rows.decode(Int.self) { n = value }
        return n
    }
    return (pool, count)
}

/// PooledPostgresConnection's transaction helper, which the pool's reset relies on.
func transactionExample(_ pool: QueuePool<PooledPostgresConnection>) async throws -> Int {
    try await pool.withConnection { fairy in
        try await fairy.connection.withTransaction { connection in
            let rows = try await connection.query("SELECT 40 + 2")
            var n = 0
            for try await value in rows.decode(Int.self) { n = value }
            return n
        }
    }
}

/// DBPoolPostgresNIO's event-loop executor: the same pool, used from a task on the loops.
func eventLoopsExample(_ pool: QueuePool<PooledPostgresConnection>) async throws -> Int {
    let loops = EventLoopGroupTaskExecutor()
    return try await withTaskExecutorPreference(loops) {
        try await pool.withConnection { fairy in
            var count = 0
            for try await n in try await fairy.connection.query("SELECT 7").decode(Int.self) { count = n }
            return count
        }
    }
}

/// DBPoolLogging's overview: a pool's log sent to swift-log.
func loggingExample() throws -> QueuePool<MyConnection> {
    var logger = Logger(label: "db")
    logger.logLevel = .info
    let pool = try QueuePool(options: PoolOptions(loggingName: "orders", logHandler: .swiftLog(logger))) { MyConnection() }
    try pool.withConnection { _ in }
    return pool
}

/// DBPoolMetrics's overview: the instruments, reported every 10 s until cancelled.
func metricsExample(_ pool: some Pool) throws -> Task<Void, Never> {
    let metrics = try PoolMetrics(pool, dimensions: [("pool", "orders")])
    let reporter = Task { await metrics.run(every: .seconds(10)) }
    return reporter
}

/// The app's own service, which the group runs before the pool's.
struct App: Service {
    func run() async throws {
        try? await gracefulShutdown()
    }
}

/// DBPoolServiceLifecycle's overview: the pool as a Service; the group is shut down at once.
func serviceLifecycleExample(_ pool: some Pool, logger: Logger) async throws {
    let app = App()
    let group = ServiceGroup(services: [app, try PoolService(pool, gracePeriod: .seconds(30))], logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        try await Task.sleep(for: .milliseconds(50))
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("consumer check: \(message)\n".utf8))
    exit(1)
}

let environment = ProcessInfo.processInfo.environment
guard let url = environment["DBPOOL_POSTGRES_URL"], !url.isEmpty, let parts = URLComponents(string: url) else {
    print("consumer check: built; DBPOOL_POSTGRES_URL is not set, so nothing was run")
    exit(0)
}
do {
    let (nioPool, count) = try await postgresNIOExample(
        host: parts.host ?? "127.0.0.1", port: parts.port ?? 5432, username: parts.user ?? "postgres",
        password: parts.password, database: String(parts.path.dropFirst()))
    guard count == 3 else { fail("the postgres-nio query returned \(count), not 3") }
    let answer = try await transactionExample(nioPool)
    guard answer == 42 else { fail("the transaction returned \(answer), not 42") }
    let seven = try await eventLoopsExample(nioPool)
    guard seven == 7 else { fail("the query on the event loops returned \(seven), not 7") }

    let blockingPool = try loggingExample()
    let reporter = try metricsExample(nioPool)
    reporter.cancel()
    await reporter.value

    var logger = Logger(label: "consumer-check")
    logger.logLevel = .warning
    try await serviceLifecycleExample(nioPool, logger: logger)
    guard nioPool.statistics.openConnections == 0 else {
        fail("the pool still has \(nioPool.statistics.openConnections) connections open after the service shut it down")
    }
    _ = blockingPool.shutdown(gracePeriod: .seconds(1))
    print("consumer check: every documented example ran against \(parts.host ?? "?"):\(parts.port ?? 0)")
} catch {
    fail("\(error)")
}
