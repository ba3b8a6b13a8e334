import BenchSupport
import DBPool
import DBPoolPostgres
import Foundation
import Logging
import PostgresNIO

typealias PQConnection = DBPoolPostgres.PostgresConnection
typealias PQPool = QueuePool<PQConnection>

/// QueuePool(size, 0) over the pool's libpq adapter, every option at its default but the ones
/// named, with all `size` connections opened before it is returned.
func makePQPool(url: String, size: Int = 8, driverThreads: DriverThreads = .automatic,
                overtakeWindow: Duration = .milliseconds(1)) async throws -> PQPool {
    let pool = try QueuePool(
        poolSize: size, maxOverflow: 0, timeout: .seconds(60),
        options: PoolOptions(overtakeWindow: overtakeWindow, driverThreads: driverThreads),
        dialect: PostgresDialect()
    ) { try PQConnection(url: url) }
    var fairies: [ConnectionFairy<PQConnection>] = []
    for _ in 0..<size { fairies.append(try await pool.connect()) }
    for fairy in fairies { await fairy.closeAndWait() }
    return pool
}

/// N async tasks running `sql` through `pool.withConnection`, each op's wait being the time from
/// the call to the body's start.
func pqTasks(_ pool: PQPool, tasks: Int, sql: String, duration: Duration) async -> OpsRun {
    await timedTasks(tasks, duration: duration) {
        let t0 = nowNs()
        return try await pool.withConnection { fairy in
            let wait = nowNs() &- t0
            _ = try fairy.connection.query(sql)
            return wait
        }
    }
}

/// N threads running `sql` through the blocking `withConnection`.
/// `thinkUs`: a pause between operations, outside the pool (0: none, the pool saturated).
func pqThreads(_ pool: PQPool, threads: Int, sql: String, duration: Duration, thinkUs: UInt32 = 0) -> OpsRun {
    timedThreads(threads, duration: duration) {
        if thinkUs > 0 { usleep(thinkUs) }
        let t0 = nowNs()
        return try pool.withConnection { fairy in
            let wait = nowNs() &- t0
            _ = try fairy.connection.query(sql)
            return wait
        }
    }
}

/// postgres-nio's `PostgresClient` with `size` connections (all opened before `body` runs).
func withPostgresClient<T: Sendable>(url: String, size: Int = 8, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
    let parts = URLComponents(string: url)!
    var config = PostgresClient.Configuration(
        host: parts.host ?? "127.0.0.1", port: parts.port ?? 5432, username: parts.user ?? "postgres",
        password: parts.password, database: String(parts.path.dropFirst()), tls: .disable)
    config.options.minimumConnections = size
    config.options.maximumConnections = size
    var logger = Logger(label: "bench.postgres-client")
    logger.logLevel = .error
    let client = PostgresClient(configuration: config, backgroundLogger: logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { await client.run(); return nil }
        // Open every connection first: `size` leases held at once.
        try await withThrowingTaskGroup(of: Void.self) { warm in
            for _ in 0..<size {
                warm.addTask { try await client.withConnection { _ in try await Task.sleep(for: .milliseconds(50)) } }
            }
            try await warm.waitForAll()
        }
        let result = try await body(client)
        group.cancelAll()
        return result
    }
}

let clientLogger = Logger(label: "bench.query")

func clientTasks(_ client: PostgresClient, tasks: Int, sql: String, duration: Duration, preferring executor: (any TaskExecutor)? = nil) async -> OpsRun {
    let query = PostgresQuery(unsafeSQL: sql)
    return await timedTasks(tasks, duration: duration, preferring: executor) {
        let t0 = nowNs()
        return try await client.withConnection { connection in
            let wait = nowNs() &- t0
            for try await _ in try await connection.query(query, logger: clientLogger) {}
            return wait
        }
    }
}
