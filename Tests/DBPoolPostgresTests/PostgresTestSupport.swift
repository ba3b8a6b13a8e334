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
