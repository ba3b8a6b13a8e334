// The code blocks of the README's Integrations section and of the Integrations modules' DocC
// pages. scripts/check-docs.py checks that every block appears in a region here; building this
// target compiles them, so a renamed API breaks the build instead of the docs. They are
// compile-only: the PostgreSQL ones would need a server, and the pool tests in this target and in
// DBPoolPostgresNIOTests exercise the same calls for real.

import DBPool
import DBPoolLogging
import DBPoolMetrics
import DBPoolPostgresNIO
import DBPoolServiceLifecycle
import Logging
import ServiceLifecycle

/// A stand-in for a blocking driver's connection.
private final class MyConnection: DBAPIConnection {
    init() throws {}
    func rollback() throws {}
    func commit() throws {}
    func close() throws {}
}

/// A stand-in for the application's own service.
private struct App: Service {
    func run() async throws {}
}

private func readmeIntegrations() async throws {
    // snippet: readme-integrations
    //! import DBPool
    //! import DBPoolLogging
    //! import DBPoolMetrics
    //! import DBPoolPostgresNIO
    //! import DBPoolServiceLifecycle
    //! import Logging
    //! import ServiceLifecycle

    let logger = Logger(label: "orders")
    let pool = try await QueuePool(
        poolSize: 10, options: PoolOptions(prePing: true, loggingName: "orders", logHandler: .swiftLog(logger)),
        dialect: PostgresNIODialect(),
        creator: PostgresNIODialect.creator(host: "localhost", username: "app", password: "secret", database: "app"))
    let metrics = try PoolMetrics(pool, dimensions: [("pool", "orders")])
    let reporter = Task { await metrics.run(every: .seconds(10)) }
    let group = ServiceGroup(services: [try PoolService(pool, gracePeriod: .seconds(30))], logger: logger)
    try await group.run()  // until SIGTERM; then the pool drains and closes
    reporter.cancel()
    // end snippet
}

private func postgresNIOPage() async throws -> Int {
    // snippet: postgres-nio-page
    //! import DBPool
    //! import DBPoolPostgresNIO

    let pool = try await QueuePool(
        poolSize: 10, options: PoolOptions(prePing: true), dialect: PostgresNIODialect(),
        creator: PostgresNIODialect.creator(host: "localhost", username: "app", password: "secret", database: "app"))
    let count = try await pool.withConnection { fairy in
        let rows = try await fairy.dbapiConnection!.query("SELECT count(*)::int FROM orders")
        var n = 0
        for try await value in rows.decode(Int.self) { n = value }
        return n
    }
    // end snippet
    return count
}

private func postgresNIOEventLoops(_ pool: QueuePool<PooledPostgresConnection>) async throws -> Int {
    // snippet: postgres-nio-event-loops
    let loops = EventLoopGroupTaskExecutor()
    let open = try await withTaskExecutorPreference(loops) {
        try await pool.withConnection { fairy in
            var count = 0
            for try await n in try await fairy.connection.query("SELECT count(*)::int FROM orders").decode(Int.self) { count = n }
            return count
        }
    }
    // end snippet
    return open
}

private func loggingPage() throws -> QueuePool<MyConnection> {
    // snippet: logging-page
    //! import DBPool
    //! import DBPoolLogging
    //! import Logging

    var logger = Logger(label: "db")
    logger.logLevel = .info
    let pool = try QueuePool(options: PoolOptions(loggingName: "orders", logHandler: .swiftLog(logger))) { try MyConnection() }
    // end snippet
    return pool
}

private func metricsPage(_ pool: QueuePool<MyConnection>) throws -> Task<Void, Never> {
    // snippet: metrics-page
    //! import DBPoolMetrics

    let metrics = try PoolMetrics(pool, dimensions: [("pool", "orders")])
    let reporter = Task { await metrics.run(every: .seconds(10)) }
    // end snippet
    return reporter
}

private func serviceLifecyclePage(_ pool: QueuePool<MyConnection>) async throws {
    let app = App()
    let logger = Logger(label: "app")
    // snippet: service-lifecycle-page
    //! import DBPoolServiceLifecycle
    //! import ServiceLifecycle

    let group = ServiceGroup(services: [app, try PoolService(pool, gracePeriod: .seconds(30))], logger: logger)
    try await group.run()
    // end snippet
}
