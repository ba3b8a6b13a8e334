import DBPool
import DBPoolDemoSupport
import DBPoolPostgres
import DBPoolSQLite
import Foundation
import Synchronization

/// What the workload needs from a driver connection on top of ``DBAPIConnection``: run SQL and
/// read rows. Both adapters already have exactly these methods.
protocol SQLConnection: DBAPIConnection {
    func execute(_ sql: String) throws
    func query(_ sql: String) throws -> [[String?]]
}

extension SQLiteConnection: SQLConnection {}
extension PostgresConnection: SQLConnection {}

/// One database the demo can run against: how to connect, where the two SQL dialects differ,
/// how to clean up, and how `--chaos` cuts its connections.
struct Backend<D: Dialect>: Sendable where D.Connection: SQLConnection {
    /// "SQLite" or "PostgreSQL", for the summary.
    var name: String
    /// The database file or the server URL (password hidden), for the summary.
    var location: String
    var dialect: D
    /// The pool's creator.
    var connect: @Sendable () throws -> D.Connection
    /// Run on every new connection from the pool's `connect` event, so that a replacement
    /// connection made after an invalidation is set up exactly like the first one.
    var sessionSetup: [String]
    /// The demo table.
    var table: String
    var createTable: String
    /// The statement that opens a write transaction.
    var beginWrite: String
    /// Removes what the demo created. Runs after the pool is disposed, so it uses no pooled
    /// connection (one may have been killed by the last chaos strike).
    var teardown: @Sendable () -> Void
    /// Whether `teardown` has anything to remove after `Workload.setUp` failed.
    var teardownAfterFailedSetup: Bool
    /// How `--chaos` works on this database.
    var chaos: ChaosPlan<D.Connection>
}

/// How `--chaos` cuts connections. A strike happens on the chaos thread about every 0.5 s; for
/// SQLite it only arms a kill that a worker or the check-in path carries out, because an
/// SQLite connection may only be touched by whoever holds it.
struct ChaosPlan<Connection>: Sendable {
    /// Makes the striker on the chaos thread, which then owns it (it may hold a connection that
    /// is not `Sendable`).
    var makeStriker: @Sendable () throws -> any ChaosStriker
    /// Called by a worker in the middle of a write transaction, between two statements.
    var midOperation: @Sendable (Connection) -> Void
    /// Called from the pool's `checkin` event, just before the connection goes back to idle.
    var atCheckin: @Sendable (Connection) -> Void

    /// No chaos: the hooks do nothing.
    static var none: ChaosPlan {
        ChaosPlan(makeStriker: { NoStriker() }, midOperation: { _ in }, atCheckin: { _ in })
    }
}

/// One chaos strike.
protocol ChaosStriker {
    func strike(_ stats: RunStats) throws
}

private struct NoStriker: ChaosStriker {
    func strike(_ stats: RunStats) {}
}

// MARK: - SQLite

/// The shared "kills armed" state for SQLite chaos. A strike arms either a mid-operation kill
/// (the next worker to reach the middle of a write loses its connection, and that operation
/// fails) or an idle kill (the next connection checked in dies while it sits in the pool, the
/// way a server-side timeout kills idle connections; pre-ping finds it, or without pre-ping the
/// next operation on it fails). Both end in an invalidation the user can watch.
final class SQLiteChaos: Sendable {
    private let armedMidOperation = Atomic<Int>(0)
    private let armedIdle = Atomic<Int>(0)
    private let stats: RunStats

    /// More armed kills than this are dropped, so that a stalled workload does not come back to
    /// a burst of all the strikes it missed.
    private static let maxArmed = 2

    init(stats: RunStats) {
        self.stats = stats
    }

    func arm() {
        if Bool.random() {
            Self.arm(armedMidOperation)
        } else {
            Self.arm(armedIdle)
        }
    }

    func midOperation(_ connection: SQLiteConnection) {
        guard Self.claim(armedMidOperation) else { return }
        connection.simulateDisconnect()
        stats.recordKill()
    }

    func atCheckin(_ connection: SQLiteConnection) {
        guard Self.claim(armedIdle) else { return }
        connection.simulateDisconnect()
        stats.recordKill()
    }

    private static func arm(_ counter: borrowing Atomic<Int>) {
        var current = counter.load(ordering: .relaxed)
        while current < maxArmed {
            let (exchanged, actual) = counter.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return }
            current = actual
        }
    }

    private static func claim(_ counter: borrowing Atomic<Int>) -> Bool {
        var current = counter.load(ordering: .relaxed)
        while current > 0 {
            let (exchanged, actual) = counter.compareExchange(expected: current, desired: current - 1, ordering: .relaxed)
            if exchanged { return true }
            current = actual
        }
        return false
    }
}

private struct SQLiteStriker: ChaosStriker {
    let chaos: SQLiteChaos
    func strike(_ stats: RunStats) { chaos.arm() }
}

extension Backend where D == SQLiteDialect {
    /// A fresh SQLite database file in the temporary directory, deleted by `teardown`.
    static func sqlite(chaos: Bool, stats: RunStats) -> Backend {
        let path = NSTemporaryDirectory() + "dbpool-demo-\(getpid())-\(randomHex()).sqlite3"
        let suffixes = ["", "-wal", "-shm", "-journal"]
        for suffix in suffixes { emergencyCleanup.register(path + suffix) }
        let sqliteChaos = SQLiteChaos(stats: stats)
        let plan: ChaosPlan<SQLiteConnection> =
            chaos
            ? ChaosPlan(
                makeStriker: { SQLiteStriker(chaos: sqliteChaos) },
                midOperation: { sqliteChaos.midOperation($0) },
                atCheckin: { sqliteChaos.atCheckin($0) })
            : .none
        return Backend(
            name: "SQLite",
            location: "\(path) (temporary, deleted at exit)",
            dialect: SQLiteDialect(),
            // Concurrent writers wait for each other's lock instead of failing with SQLITE_BUSY.
            connect: { try SQLiteConnection(path: path, busyTimeout: .seconds(5)) },
            // WAL lets readers run alongside the one writer; it is stored in the file, so every
            // connection after the first finds it already set. synchronous=NORMAL is the usual
            // WAL companion: durable enough for a demo, and not bound by fsync.
            sessionSetup: ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"],
            table: "demo_ops",
            createTable: """
                CREATE TABLE IF NOT EXISTS demo_ops (
                    slot INTEGER PRIMARY KEY,
                    worker INTEGER NOT NULL,
                    note TEXT NOT NULL,
                    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)
                """,
            // IMMEDIATE takes the write lock up front, where the busy timeout applies; a plain
            // BEGIN would upgrade at the INSERT and could fail at once with SQLITE_BUSY when
            // another writer got there first.
            beginWrite: "BEGIN IMMEDIATE",
            teardown: {
                for suffix in suffixes { unlink(path + suffix) }
            },
            teardownAfterFailedSetup: true,
            chaos: plan)
    }
}

// MARK: - PostgreSQL

/// The `application_name` of the pool's connections, which the chaos query selects on.
let postgresApplicationName = "dbpool-demo"

/// Kills every pooled backend from a separate admin connection that it owns.
private final class PostgresStriker: ChaosStriker {
    private let admin: PostgresConnection

    init(url: String) throws {
        admin = try PostgresConnection(url: url)
        // A different name, so that the admin connection is easy to tell apart in
        // pg_stat_activity; the query also excludes its own pid.
        try admin.execute("SET application_name = 'dbpool-demo-chaos'")
    }

    func strike(_ stats: RunStats) throws {
        let rows = try admin.query(
            """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND application_name = '\(postgresApplicationName)'
            """)
        stats.recordKill(count: rows.filter { $0.first == "t" }.count)
    }
}

extension Backend where D == PostgresDialect {
    /// A table with a unique name on the server at `url`, dropped by `teardown`.
    static func postgres(url: String, chaos: Bool) -> Backend {
        let table = "dbpool_demo_\(getpid())_\(randomHex())"
        let plan: ChaosPlan<PostgresConnection> =
            chaos
            ? ChaosPlan(makeStriker: { try PostgresStriker(url: url) }, midOperation: { _ in }, atCheckin: { _ in })
            : .none
        return Backend(
            name: "PostgreSQL",
            location: ConnectionStringRedaction.redact(url),
            dialect: PostgresDialect(),
            connect: { try PostgresConnection(url: url) },
            // Set here rather than in the URL so that any URL or keyword string the user passes
            // works, and the chaos query finds exactly the pool's connections.
            sessionSetup: ["SET application_name = '\(postgresApplicationName)'"],
            table: table,
            createTable: """
                CREATE TABLE IF NOT EXISTS \(table) (
                    slot integer PRIMARY KEY,
                    worker integer NOT NULL,
                    note text NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT now())
                """,
            beginWrite: "BEGIN",
            teardown: {
                do {
                    let connection = try PostgresConnection(url: url)
                    try connection.execute("DROP TABLE IF EXISTS \(table)")
                    try connection.close()
                } catch {
                    Terminal.emit("dbpool-demo: could not drop table \(table): \(error)\n")
                }
            },
            teardownAfterFailedSetup: false,
            chaos: plan)
    }
}

/// Eight random hex digits, for names that must not collide with another run's.
func randomHex() -> String {
    let value = UInt32.random(in: .min ... .max)
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
}
