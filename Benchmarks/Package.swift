// swift-tools-version:6.1
// Benchmarks for swift-db-pool, side by side with postgres-nio's ConnectionPool and async-kit's
// EventLoopConnectionPool. A nested package, so the root package (and its CI) never resolves or
// builds package-benchmark or the NIO graph. Run everything with ./run.
import PackageDescription
import class Foundation.ProcessInfo

// The library under test: the enclosing package by default. DBPOOL_ROOT points the benchmarks
// at another checkout of it (for example a snapshot of a given commit, to compare two versions).
let dbpoolRoot = ProcessInfo.processInfo.environment["DBPOOL_ROOT"] ?? ".."

let package = Package(
    name: "swift-db-pool-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named explicitly: a path dependency is otherwise identified by its directory name.
        .package(name: "swift-db-pool", path: dbpoolRoot),
        // DBPoolPostgresNIO (postgres-nio's PostgresConnection under our QueuePool), from the same
        // checkout; it pins postgres-nio, swift-log and the rest exactly.
        .package(name: "swift-db-pool-integrations", path: dbpoolRoot + "/Integrations"),
        .package(url: "https://github.com/ordo-one/benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        .package(url: "https://github.com/vapor/async-kit.git", exact: "1.22.0"),
        // Already in async-kit's graph; named here only to import NIOPosix for the event loop.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.65.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.5.0"),
    ],
    targets: [
        // Shared workload code: the no-op connection, the contended drivers and the wait statistics.
        .target(
            name: "BenchSupport",
            dependencies: [
                .product(name: "DBPool", package: "swift-db-pool"),
                .product(name: "DBPoolSQLite", package: "swift-db-pool"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "AsyncKit", package: "async-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "PoolBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "DBPool", package: "swift-db-pool"),
                .product(name: "DBPoolSQLite", package: "swift-db-pool"),
            ],
            path: "Benchmarks/PoolBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "PeerBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "AsyncKit", package: "async-kit"),
            ],
            path: "Benchmarks/PeerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Issue 13's heartbeat and real-PostgreSQL workloads; a plain executable (see ./run-async).
        .executableTarget(
            name: "AsyncWorkloads",
            dependencies: [
                "BenchSupport",
                .product(name: "DBPool", package: "swift-db-pool"),
                .product(name: "DBPoolPostgres", package: "swift-db-pool"),
                .product(name: "DBPoolSQLite", package: "swift-db-pool"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "DBPoolPostgresNIO", package: "swift-db-pool-integrations"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A tiny release driver for valgrind --tool=callgrind (no package-benchmark, no interposer).
        .executableTarget(
            name: "CallgrindDriver",
            dependencies: ["BenchSupport", .product(name: "DBPool", package: "swift-db-pool")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
