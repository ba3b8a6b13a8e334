// swift-tools-version:6.0
// The ecosystem glue for swift-db-pool: postgres-nio, swift-log, swift-metrics and
// swift-service-lifecycle. A nested package, so that the root package keeps zero dependencies:
// only code that imports these products resolves and builds them. Versions are pinned exactly to
// the ones this project is tested with.
import PackageDescription

let package = Package(
    name: "swift-db-pool-integrations",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DBPoolPostgresNIO", targets: ["DBPoolPostgresNIO"]),
        .library(name: "DBPoolLogging", targets: ["DBPoolLogging"]),
        .library(name: "DBPoolMetrics", targets: ["DBPoolMetrics"]),
        .library(name: "DBPoolServiceLifecycle", targets: ["DBPoolServiceLifecycle"]),
    ],
    dependencies: [
        // Named explicitly: a path dependency is otherwise identified by its directory name.
        .package(name: "swift-db-pool", path: ".."),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
    ],
    targets: [
        .target(
            name: "DBPoolPostgresNIO",
            dependencies: [
                .product(name: "DBPool", package: "swift-db-pool"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DBPoolLogging",
            dependencies: [
                .product(name: "DBPool", package: "swift-db-pool"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DBPoolMetrics",
            dependencies: [
                .product(name: "DBPool", package: "swift-db-pool"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "DBPoolServiceLifecycle",
            dependencies: [
                .product(name: "DBPool", package: "swift-db-pool"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "DBPoolIntegrationsTests",
            dependencies: [
                "DBPoolLogging", "DBPoolMetrics", "DBPoolServiceLifecycle", "DBPoolPostgresNIO",
                .product(name: "DBPoolTesting", package: "swift-db-pool"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "DBPoolPostgresNIOTests",
            dependencies: [
                "DBPoolPostgresNIO",
                .product(name: "DBPoolTesting", package: "swift-db-pool"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
