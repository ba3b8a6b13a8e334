import DBPool
import DBPoolPostgresNIO
import Foundation
import Logging
import PostgresNIO
import Synchronization
import XCTest

/// The server for these tests, from `DBPOOL_POSTGRES_URL` (set by scripts/with-postgres). Without
/// it the tests skip, except under CI, where they fail: CI always has a server.
func serverConfiguration(applicationName: String) throws -> PostgresConnection.Configuration {
    let environment = ProcessInfo.processInfo.environment
    guard let url = environment["DBPOOL_POSTGRES_URL"], !url.isEmpty, let parts = URLComponents(string: url) else {
        if environment["CI"] != nil {
            XCTFail("DBPOOL_POSTGRES_URL is not set: no server for the postgres-nio tests under CI")
            throw XCTSkip("no server")
        }
        throw XCTSkip("DBPOOL_POSTGRES_URL is not set; run under scripts/with-postgres")
    }
    var configuration = PostgresConnection.Configuration(
        host: parts.host ?? "127.0.0.1", port: parts.port ?? 5432, username: parts.user ?? "postgres",
        password: parts.password, database: String(parts.path.dropFirst()).nilIfEmpty ?? "postgres", tls: .disable)
    configuration.options.additionalStartupParameters = [("application_name", applicationName)]
    return configuration
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

let quietLogger = Logger(label: "dbpool-nio-tests") { _ in SwiftLogNoOpLogHandler() }

/// A connection outside any pool, for looking at and acting on the server.
func withAdmin<R: Sendable>(_ body: (PostgresConnection) async throws -> R) async throws -> R {
    let configuration = try serverConfiguration(applicationName: "dbpool-admin")
    let admin = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: quietLogger)
    do {
        let result = try await body(admin)
        try await admin.close()
        return result
    } catch {
        try? await admin.close()
        throw error
    }
}

/// Backends connected with `applicationName`.
func backendCount(_ applicationName: String) async throws -> Int {
    try await withAdmin { admin in
        let rows = try await admin.query(
            "SELECT count(*)::int FROM pg_stat_activity WHERE application_name = \(applicationName)", logger: quietLogger)
        for try await count in rows.decode(Int.self) { return count }
        return -1
    }
}

/// Waits (up to 5 s) until no backend with `applicationName` is left: the pool leaked none.
func assertNoBackendsLeft(_ applicationName: String, file: StaticString = #filePath, line: UInt = #line) async throws {
    let deadline = ContinuousClock.now + .seconds(5)
    var count = try await backendCount(applicationName)
    while count > 0 && ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(10))
        count = try await backendCount(applicationName)
    }
    XCTAssertEqual(count, 0, "leaked backends for \(applicationName)", file: file, line: line)
}

/// Terminates the backend `pid` and waits until it has gone.
func terminateBackend(_ pid: Int) async throws {
    try await withAdmin { admin in
        try await admin.query("SELECT pg_terminate_backend(\(Int32(pid)))", logger: quietLogger)
        for _ in 0..<500 {
            let rows = try await admin.query("SELECT count(*)::int FROM pg_stat_activity WHERE pid = \(pid)", logger: quietLogger)
            var left = 1
            for try await count in rows.decode(Int.self) { left = count }
            if left == 0 { return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// The backend pid of a connection that `pool` checks out.
func backendPID(of pool: QueuePool<PooledPostgresConnection>) async throws -> Int {
    try await pool.withConnection { try await backendPID($0.dbapiConnection!) }
}

/// The error ``finishes(within:_:file:line:_:)`` throws when the operation is still running.
struct StillRunning: Error, CustomStringConvertible {
    let what: String
    let limit: Duration
    var description: String { "\(what) had not finished after \(limit)" }
}

/// Runs `operation` and returns its result, or, if it has not finished after `limit`, fails the
/// test naming `what` and throws ``StillRunning``: an operation that never returns (issue 15's
/// hangs) then fails the test instead of hanging the run. The operation is left suspended, as
/// nothing can stop it; `limit` is a ceiling far above the operation's normal time, not a wait.
func finishes<R: Sendable>(
    within limit: Duration, _ what: String, file: StaticString = #filePath, line: UInt = #line,
    _ operation: @escaping @Sendable () async throws -> R
) async throws -> R {
    try await withCheckedThrowingContinuation { continuation in
        let first = FirstOutcome(continuation)
        let watchdog = Task {
            try await Task.sleep(for: limit)
            if first.resume(.failure(StillRunning(what: what, limit: limit))) {
                XCTFail("\(what) had not finished after \(limit): it never returns", file: file, line: line)
            }
        }
        Task {
            let result: Result<R, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            watchdog.cancel()
            first.resume(result)
        }
    }
}

/// A continuation that the first of two racing tasks resumes.
private final class FirstOutcome<R: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<R, any Error>?>

    init(_ continuation: CheckedContinuation<R, any Error>) { self.continuation = Mutex(continuation) }

    /// Resumes with `result` unless already resumed; returns whether this call resumed.
    @discardableResult
    func resume(_ result: Result<R, any Error>) -> Bool {
        let taken = continuation.withLock { continuation in
            defer { continuation = nil }
            return continuation
        }
        taken?.resume(with: result)
        return taken != nil
    }
}

/// The backend pid of a pooled connection.
func backendPID(_ connection: PooledPostgresConnection) async throws -> Int {
    let rows = try await connection.query("SELECT pg_backend_pid()::int")
    for try await pid in rows.decode(Int.self) { return pid }
    return -1
}

/// Runs the restart command that scripts/with-postgres exports, on a thread of its own (it
/// blocks), and waits for it. Skips without it, except under CI.
func restartServer() async throws {
    guard let command = ProcessInfo.processInfo.environment["DBPOOL_PG_RESTART_CMD"] else {
        if ProcessInfo.processInfo.environment["CI"] != nil {
            XCTFail("DBPOOL_PG_RESTART_CMD is not set under CI")
        }
        throw XCTSkip("DBPOOL_PG_RESTART_CMD is not set; run under scripts/with-postgres")
    }
    let status: Int32 = await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: runShell(command)) }
    }
    XCTAssertEqual(status, 0, "restart command failed: \(command)")
}

/// `/bin/sh -c command` through posix_spawn (not Foundation's Process, which on Linux waits for
/// sockets the daemonised server inherits); returns the exit status.
private func runShell(_ command: String) -> Int32 {
    var pid: pid_t = 0
    let arguments = ["/bin/sh", "-c", command]
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    guard posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 {
        guard errno == EINTR else { return -1 }
    }
    return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : -1
}
