// dbpool-demo: a small read/write workload through a QueuePool, with a live status line and a
// summary. `swift run dbpool-demo --help` describes the flags; Options.swift parses them,
// Backend.swift knows SQLite and PostgreSQL, Workload.swift drives the pool, StatusLine.swift
// and Summary.swift report.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import DBPool
import DBPoolDemoSupport
import DBPoolPostgres
import DBPoolSQLite

/// Exit statuses, as documented in `--help`.
enum ExitStatus {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 2
    /// 128 + the signal number, the shell's convention: 130 for SIGINT, 143 for SIGTERM.
    static func interrupted(by signal: Int32) -> Int32 { 128 + signal }
}

/// Sets up `backend`, runs the workload, cleans up and prints the summary. Returns the exit status.
func runDemo<D: Dialect>(backend: Backend<D>, options: DemoOptions, stats: RunStats, terminal: Terminal) async -> Int32
where D.Connection: SQLConnection {
    let workload: Workload<D>
    do {
        workload = try Workload(options: options, backend: backend, stats: stats, terminal: terminal)
    } catch {
        // Nothing has been created yet, so there is nothing to tear down.
        Terminal.emit("dbpool-demo: invalid pool configuration: \(error)\nsee --help\n")
        return ExitStatus.usage
    }
    do {
        try workload.setUp()
    } catch {
        Terminal.emit("dbpool-demo: could not set up the \(backend.name) database at \(backend.location): \(error)\n")
        workload.pool.dispose()
        // A failed setup created no PostgreSQL table (it is one CREATE TABLE), and trying to
        // drop it would only fail again with a second, misleading error; SQLite's file exists
        // as soon as the first connection opened it.
        if backend.teardownAfterFailedSetup { backend.teardown() }
        return ExitStatus.failure
    }
    let result = options.useAsync ? await workload.runAsTasks() : workload.runOnThreads()
    backend.teardown()
    let summary = Summary(options: options, backendName: backend.name, location: backend.location, result: result, stats: stats)
    print(summary.render())
    if let signal = result.interruptedBy { return ExitStatus.interrupted(by: signal) }
    if stats.operations.load(ordering: .relaxed) == 0 {
        Terminal.emit("dbpool-demo: no operation succeeded\n")
        return ExitStatus.failure
    }
    return ExitStatus.success
}

let options: DemoOptions
do {
    options = try DemoOptions.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    Terminal.emit("dbpool-demo: \(error)\nsee --help\n")
    exit(ExitStatus.usage)
}
if options.showHelp {
    print(DemoOptions.helpText)
    exit(ExitStatus.success)
}

if let url = options.postgresURL {
    outputSecrets.withLock { $0 = ConnectionStringRedaction.passwords(in: url) }
}
StopSignals.install()

let terminal = Terminal()
let stats = RunStats()
let status: Int32
if let url = options.postgresURL {
    status = await runDemo(
        backend: Backend<PostgresDialect>.postgres(url: url, chaos: options.chaos),
        options: options, stats: stats, terminal: terminal)
} else {
    status = await runDemo(
        backend: Backend<SQLiteDialect>.sqlite(chaos: options.chaos, stats: stats),
        options: options, stats: stats, terminal: terminal)
}
exit(status)
