// swift-tools-version:6.0
// A consumer of Integrations/, as an app would be one: it depends on the package by path, in
// Swift 6 mode, and calls each product the way the README and the modules' documentation show.
// scripts/test builds it (any warning in it or in Integrations/ fails) and runs it against the
// throwaway server, so a change that breaks the documented API fails CI. Not a product of the
// project: nothing depends on it.
import PackageDescription

let package = Package(
    name: "swift-db-pool-consumer-check",
    platforms: [.macOS(.v15)],
    dependencies: [
        // As the README says: a path dependency is known by its folder's name, here "Integrations".
        .package(path: ".."),
        // DBPool itself. The root checkout's folder name varies (a clone, a worktree), so it is
        // named; Integrations names its own dependency on it the same way.
        .package(name: "swift-db-pool", path: "../.."),
        // Imported by the documented examples (Logger, ServiceGroup); the versions Integrations
        // pins, so that both resolve to one graph.
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
    ],
    targets: [
        .executableTarget(
            name: "ConsumerCheck",
            dependencies: [
                .product(name: "DBPool", package: "swift-db-pool"),
                .product(name: "DBPoolPostgresNIO", package: "Integrations"),
                .product(name: "DBPoolLogging", package: "Integrations"),
                .product(name: "DBPoolMetrics", package: "Integrations"),
                .product(name: "DBPoolServiceLifecycle", package: "Integrations"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
