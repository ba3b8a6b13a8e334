import DBPoolPostgres
import Foundation
import Synchronization
import XCTest

/// One row of PgBouncer's `SHOW POOLS`, for the database the tests use.
struct BouncerPool: Equatable {
    var clientActive = 0
    var clientWaiting = 0
    var serverActive = 0
    /// Every server connection, in any state (active, cancelling, idle, used, tested, login).
    var servers = 0
}

/// PgBouncer's admin console (`SHOW POOLS`, `RECONNECT`), from scripts/with-postgres's exports.
struct BouncerConsole {
    let admin: PostgresConnection
    let database = "postgres"

    init() throws {
        admin = try PostgresConnection(url: try requiredEnvironment("DBPOOL_PGBOUNCER_ADMIN_URL"))
    }

    /// The pool size PgBouncer was configured with (`default_pool_size`).
    static func poolSize() throws -> Int {
        let text = try requiredEnvironment("DBPOOL_PGBOUNCER_POOL_SIZE")
        guard let size = Int(text) else { throw PostgresError(sqlState: nil, message: "bad pool size \(text)") }
        return size
    }

    /// The `SHOW POOLS` row of ``database`` (zeros before PgBouncer has created the pool).
    ///
    /// The columns are found by position, since the adapter returns no column names. PgBouncer
    /// 1.18 inserted cancel-request columns in the middle; both layouts are known, and the
    /// `pool_mode` column is checked so that another layout fails loudly rather than misreads.
    func pools() throws -> BouncerPool {
        guard let row = try admin.query("SHOW POOLS").first(where: { $0.first == database }) else {
            return BouncerPool()
        }
        let values = row.map { $0 ?? "" }
        // (client active, client waiting, first server column, last server column, pool_mode)
        let layout: (Int, Int, Int, Int, Int)
        switch values.count {
        case 12: layout = (2, 3, 4, 8, 11)  // up to 1.17: sv_active … sv_login
        case 16...: layout = (2, 3, 6, 12, 15)  // 1.18+: sv_active, sv_active_cancel, sv_being_canceled, … sv_login
        default: throw PostgresError(sqlState: nil, message: "unknown SHOW POOLS layout: \(values)")
        }
        guard values[layout.4] == "transaction" else {
            throw PostgresError(sqlState: nil, message: "unknown SHOW POOLS layout (pool_mode not at \(layout.4)): \(values)")
        }
        func int(_ index: Int) throws -> Int {
            guard let value = Int(values[index]) else {
                throw PostgresError(sqlState: nil, message: "SHOW POOLS column \(index) is not a number: \(values)")
            }
            return value
        }
        var servers = 0
        for index in layout.2...layout.3 { servers += try int(index) }
        return BouncerPool(
            clientActive: try int(layout.0), clientWaiting: try int(layout.1),
            serverActive: try int(layout.2), servers: servers)
    }

    /// Waits (bounded) until no server connection is active; returns the last row seen.
    func settledPools(seconds: Double = 2) throws -> BouncerPool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var row = try pools()
        while row.serverActive != 0 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
            row = try pools()
        }
        return row
    }
}

/// Samples `SHOW POOLS` on its own thread while a load runs, keeping the maxima.
final class BouncerSampler: Sendable {
    struct Maxima: Sendable {
        var samples = 0
        var servers = 0
        var serverActive = 0
        var clientWaiting = 0
        var errors: [String] = []
    }

    private let maxima = Mutex(Maxima())
    private let stop = StopFlag()
    private let done = DispatchGroup()

    /// Starts sampling every few milliseconds, through its own admin connection.
    init() throws {
        let console = try BouncerConsoleBox(BouncerConsole())
        done.enter()
        Thread.detachNewThread { [self] in
            defer { done.leave() }
            // Bounded: at most 10 000 samples (about a minute), even if never stopped.
            for _ in 0..<10_000 where !stop.isRaised {
                do {
                    let pools = try console.console.pools()
                    maxima.withLock {
                        $0.samples += 1
                        $0.servers = max($0.servers, pools.servers)
                        $0.serverActive = max($0.serverActive, pools.serverActive)
                        $0.clientWaiting = max($0.clientWaiting, pools.clientWaiting)
                    }
                } catch {
                    maxima.withLock { $0.errors.append("\(error)") }
                    return
                }
                Thread.sleep(forTimeInterval: 0.005)
            }
        }
    }

    /// Stops sampling and returns the maxima seen.
    func finish() -> Maxima {
        stop.raise()
        _ = done.wait(timeout: .now() + 10)
        return maxima.withLock { $0 }
    }
}

/// Moves the sampler's console to its thread.
// @unchecked Sendable: handed over once at start; afterwards only the sampler thread uses it.
private final class BouncerConsoleBox: @unchecked Sendable {
    let console: BouncerConsole
    init(_ console: BouncerConsole) { self.console = console }
}
