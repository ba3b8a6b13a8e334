// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-db-pool",
    // Synchronization.Mutex/Atomic need macOS 15; Linux has them unconditionally.
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DBPool", targets: ["DBPool"]),
        .library(name: "DBPoolTesting", targets: ["DBPoolTesting"]),
        .library(name: "DBPoolSQLite", targets: ["DBPoolSQLite"]),
        .library(name: "DBPoolPostgres", targets: ["DBPoolPostgres"]),
        .executable(name: "dbpool-demo", targets: ["dbpool-demo"]),
    ],
    targets: [
        .target(name: "DBPool"),
        .target(name: "DBPoolTesting", dependencies: ["DBPool"]),
        .systemLibrary(
            name: "CSQLite3",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        .target(name: "DBPoolSQLite", dependencies: ["DBPool", "CSQLite3"]),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        .target(name: "DBPoolPostgres", dependencies: ["DBPool", "CLibPQ"]),
        // The demo's testable parts (password redaction); not a product.
        .target(name: "DBPoolDemoSupport"),
        .executableTarget(name: "dbpool-demo", dependencies: ["DBPool", "DBPoolSQLite", "DBPoolPostgres", "DBPoolDemoSupport"]),
        .testTarget(name: "DBPoolTests", dependencies: ["DBPool", "DBPoolTesting"]),
        .testTarget(name: "DBPoolTestingTests", dependencies: ["DBPool", "DBPoolTesting"]),
        .testTarget(name: "DBPoolSQLiteTests", dependencies: ["DBPool", "DBPoolTesting", "DBPoolSQLite"]),
        .testTarget(name: "DBPoolPostgresTests", dependencies: ["DBPool", "DBPoolTesting", "DBPoolPostgres"]),
        // Also runs the built dbpool-demo binary (signals, --postgres failures).
        .testTarget(name: "DBPoolDemoTests", dependencies: ["DBPoolDemoSupport", "DBPoolSQLite"]),
        // The code blocks of README.md and the DocC articles, compiled (scripts/docs checks that
        // every block is here).
        .testTarget(name: "DocSnippetTests", dependencies: ["DBPool", "DBPoolTesting", "DBPoolSQLite", "DBPoolPostgres"]),
    ],
    swiftLanguageModes: [.v6]
)
