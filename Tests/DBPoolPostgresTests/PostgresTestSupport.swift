import DBPoolPostgres
import Foundation
import XCTest

/// Runs `command` with `/bin/sh -c` and returns its exit status.
///
/// Uses `posix_spawn` and `waitpid` directly rather than Foundation's `Process`: on Linux,
/// `Process.waitUntilExit()` also waits for a socket it gives the child to close, and a
/// server daemonised by the command inherits that socket unless the command closes it
/// (the commands from scripts/with-postgres do; others may not).
func runShell(_ command: String) throws -> Int32 {
    var pid: pid_t = 0
    let arguments = ["/bin/sh", "-c", command]
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let spawned = posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ)
    guard spawned == 0 else {
        throw PostgresError(sqlState: nil, message: "posix_spawn failed: \(spawned)")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 {
        guard errno == EINTR else { throw PostgresError(sqlState: nil, message: "waitpid failed: \(errno)") }
    }
    // WIFEXITED / WEXITSTATUS, which Swift does not import as macros.
    return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : -1
}

/// Runs the restart command that scripts/with-postgres exports. Without it the test is skipped,
/// except under CI, where it fails, as the other Postgres tests do without a server.
func restartServer() throws {
    guard let command = ProcessInfo.processInfo.environment["DBPOOL_PG_RESTART_CMD"] else {
        if ProcessInfo.processInfo.environment["CI"] != nil {
            throw PostgresError(sqlState: nil, message: "DBPOOL_PG_RESTART_CMD is not set under CI; run under scripts/with-postgres")
        }
        throw XCTSkip("DBPOOL_PG_RESTART_CMD is not set; run under scripts/with-postgres")
    }
    let status = try runShell(command)
    guard status == 0 else { throw PostgresError(sqlState: nil, message: "restart command failed (\(status)): \(command)") }
}

/// The value of a variable that scripts/with-postgres exports (a URL, a helper's path). Without
/// it the test is skipped, except under CI, where it fails: CI must never pass by skipping.
func requiredEnvironment(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let environment = ProcessInfo.processInfo.environment
    if let value = environment[name], !value.isEmpty { return value }
    if environment["CI"] != nil {
        XCTFail(
            "\(name) is not set under CI: the server it names could not be started. "
                + "Run the tests under scripts/with-postgres (as root, it installs what is missing).", file: file, line: line)
        throw NoServer()
    }
    throw XCTSkip("\(name) is not set; run under scripts/with-postgres to test against a server")
}

/// Runs the helper script whose absolute path is in `variable` with one `action` argument (for
/// example `DBPOOL_PGBOUNCER_CMD kill-restart`), and fails unless it exits with 0.
func runHelper(_ variable: String, _ action: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let path = try requiredEnvironment(variable, file: file, line: line)
    let command = "'\(path.replacingOccurrences(of: "'", with: "'\\''"))' \(action)"
    let status = try runShell(command)
    guard status == 0 else { throw PostgresError(sqlState: nil, message: "helper failed (\(status)): \(command)") }
}
