import DBPool
import Synchronization

/// The signal (SIGINT or SIGTERM) that asked the run to stop early, or 0. The run then still
/// cleans up and prints its summary.
let interruptSignal = Atomic<Int32>(0)

/// Errors the workload raises itself.
enum WorkloadError: Error, CustomStringConvertible {
    /// `SELECT COUNT(*)` returned something that is not a count.
    case unexpectedResult([[String?]])
    /// The checked-out fairy had no driver connection.
    case noConnection

    var description: String {
        switch self {
        case let .unexpectedResult(rows): "unexpected result from SELECT COUNT(*): \(rows)"
        case .noConnection: "the checked-out connection has no driver connection"
        }
    }
}

/// What a finished run hands to the summary.
struct RunResult: Sendable {
    var elapsed: Duration
    var waits: WaitTimes
    var poolStatusAtEnd: String
    var closesBeforeDispose: Int
    /// The pool's own count of closes during the run, by reason.
    var closesByReason: [CloseReason: Int]
    /// The pool's statistics at the end of the run, before dispose.
    var statistics: PoolStatistics
    /// The signal that ended the run early, or `nil`.
    var interruptedBy: Int32?
}

/// One run of the demo: a QueuePool over `backend`, the workers that drive it, the status line
/// and, with `--chaos`, the chaos thread.
final class Workload<D: Dialect>: Sendable where D.Connection: SQLConnection {
    typealias Connection = D.Connection

    let options: DemoOptions
    let backend: Backend<D>
    let pool: QueuePool<Connection>
    let stats: RunStats
    private let terminal: Terminal
    /// Tells workers and the chaos thread to finish what they are doing and return.
    private let stopRequested = Atomic<Bool>(false)

    /// Creates the pool and registers the listeners. Throws ``PoolError/invalidArgument(_:)``
    /// for a configuration the pool rejects; nothing connects yet.
    init(options: DemoOptions, backend: Backend<D>, stats: RunStats, terminal: Terminal) throws {
        self.options = options
        self.backend = backend
        self.stats = stats
        self.terminal = terminal
        let logHandler = PoolLogHandler(level: options.verbose ? .info : .warning) { message in
            var line = "pool \(message.level): \(message.message)"
            if let error = message.error { line += " (\(error))" }
            terminal.message(singleLine(line))
        }
        pool = try QueuePool(
            poolSize: options.poolSize, maxOverflow: options.maxOverflow, timeout: .seconds(options.timeout),
            options: PoolOptions(
                recycle: options.recycle.map { .seconds($0) },
                prePing: options.effectivePrePing,
                logHandler: logHandler),
            dialect: backend.dialect, creator: backend.connect)

        let sessionSetup = backend.sessionSetup
        pool.events.onConnect { connection, _ in
            stats.connectionsCreated.add(1, ordering: .relaxed)
            for statement in sessionSetup { try connection.execute(statement) }
        }
        pool.events.onInvalidate { _, _, _ in stats.invalidations.add(1, ordering: .relaxed) }
        pool.events.onClose { _, _ in stats.closes.add(1, ordering: .relaxed) }
        if options.chaos {
            let atCheckin = backend.chaos.atCheckin
            // An invalidated record comes back without a connection; there is nothing to kill.
            pool.events.onCheckin { connection, _ in if let connection { atCheckin(connection) } }
        }
    }

    /// Creates the demo table through the pool, so that the first connection also runs the
    /// session setup (WAL for SQLite) before any worker starts.
    func setUp() throws {
        try pool.withConnection { fairy in
            guard let connection = fairy.dbapiConnection else { throw WorkloadError.noConnection }
            try connection.execute(backend.createTable)
        }
    }

    // MARK: Running

    /// Runs the workload on threads that block in `pool.connect()`.
    func runOnThreads() -> RunResult {
        let start = ContinuousClock.now
        let (status, chaos) = startHelpers(start: start)
        let collected = Mutex(WaitTimes())
        let workers = (1...options.workers).map { worker in
            WorkerThread.spawn(name: "dbpool-worker-\(worker)") { [self] in
                let waits = threadWorker(worker)
                collected.withLock { $0.merge(waits) }
            }
        }
        while !shouldStop(start: start) { sleepBriefly(.milliseconds(20)) }
        stopRequested.store(true, ordering: .releasing)
        for worker in workers { worker.join() }
        return finish(start: start, waits: collected.withLock { $0 }, status: status, chaos: chaos)
    }

    /// Runs the workload as tasks that suspend in `await pool.withConnection`.
    func runAsTasks() async -> RunResult {
        let start = ContinuousClock.now
        let (status, chaos) = startHelpers(start: start)
        let waits = await withTaskGroup(of: WaitTimes.self) { group in
            for worker in 1...options.workers {
                group.addTask { await self.taskWorker(worker, start: start) }
            }
            while !shouldStop(start: start) {
                try? await Task.sleep(for: .milliseconds(20))
            }
            stopRequested.store(true, ordering: .releasing)
            var all = WaitTimes()
            for await waits in group { all.merge(waits) }
            return all
        }
        return finish(start: start, waits: waits, status: status, chaos: chaos)
    }

    private func shouldStop(start: ContinuousClock.Instant) -> Bool {
        ContinuousClock.now - start >= .seconds(options.duration) || interruptSignal.load(ordering: .relaxed) != 0
    }

    private func startHelpers(start: ContinuousClock.Instant) -> (StatusReporter, WorkerThread?) {
        let status = StatusReporter(
            terminal: terminal, stats: stats, start: start, plannedDuration: .seconds(options.duration),
            showChaos: options.chaos
        ) { [pool] in
            PoolGauge(checkedOut: pool.checkedOut, overflow: pool.overflow, waiting: pool.waiting)
        }
        status.begin()
        let chaos = options.chaos ? WorkerThread.spawn(name: "dbpool-chaos") { [self] in chaosLoop() } : nil
        return (status, chaos)
    }

    private func finish(start: ContinuousClock.Instant, waits: WaitTimes, status: StatusReporter, chaos: WorkerThread?) -> RunResult {
        let elapsed = ContinuousClock.now - start
        stopRequested.store(true, ordering: .releasing)
        chaos?.join()
        status.stop()
        let statusAtEnd = pool.status()
        let closesBeforeDispose = stats.closes.load(ordering: .relaxed)
        let statistics = pool.statistics
        pool.dispose()
        let signal = interruptSignal.load(ordering: .relaxed)
        return RunResult(
            elapsed: elapsed, waits: waits, poolStatusAtEnd: statusAtEnd,
            closesBeforeDispose: closesBeforeDispose, closesByReason: statistics.closes,
            statistics: statistics, interruptedBy: signal == 0 ? nil : signal)
    }

    // MARK: Workers

    private var stopping: Bool { stopRequested.load(ordering: .acquiring) }

    private func threadWorker(_ worker: Int) -> WaitTimes {
        var waits = WaitTimes()
        var sequence = 0
        while !stopping {
            sequence += 1
            let requested = ContinuousClock.now
            var checkedOut = false
            do {
                let wrote = try pool.withConnection { fairy in
                    waits.record(ContinuousClock.now - requested)
                    checkedOut = true
                    let wrote = try operation(fairy, worker: worker, sequence: sequence)
                    if let hold { StopSignals.sleep(hold) }
                    return wrote
                }
                recordSuccess(wrote: wrote)
            } catch {
                // A failed checkout waited too (a timeout waits the whole timeout); leaving it
                // out would make a starved pool look fast.
                if !checkedOut { waits.record(ContinuousClock.now - requested) }
                stats.recordError(error)
                // A database that is down fails every operation at once; without a pause the
                // workers would spin and flood the error count.
                sleepBriefly(Self.pauseAfterError)
            }
        }
        return waits
    }

    private func taskWorker(_ worker: Int, start: ContinuousClock.Instant) async -> WaitTimes {
        var waits = WaitTimes()
        var sequence = 0
        // Each task checks the deadline itself and yields once per operation: a checkout that
        // finds an idle connection never suspends, so without the yield a few tasks could keep
        // every cooperative thread busy and starve the others, the controller included.
        while !stopping, !shouldStop(start: start) {
            await Task.yield()
            sequence += 1
            let requested = ContinuousClock.now
            var checkedOut = false
            do {
                // The SQL runs without suspending, so a write transaction never holds SQLite's
                // lock across a suspension point while another task busy-waits for it on the
                // same small set of cooperative threads. Only the hold, after the COMMIT,
                // suspends; without it, at most one connection per cooperative thread is in use.
                let wrote = try await pool.withConnection { fairy in
                    waits.record(ContinuousClock.now - requested)
                    checkedOut = true
                    let wrote = try operation(fairy, worker: worker, sequence: sequence)
                    if let hold { try await StopSignals.sleep(hold) }
                    return wrote
                }
                recordSuccess(wrote: wrote)
            } catch {
                if !checkedOut { waits.record(ContinuousClock.now - requested) }
                stats.recordError(error)
                try? await Task.sleep(for: Self.pauseAfterError)
            }
        }
        return waits
    }

    private static var pauseAfterError: Duration { .milliseconds(5) }

    /// `--hold`, or `nil` for none.
    private var hold: Duration? {
        options.holdMilliseconds > 0 ? .seconds(options.holdMilliseconds / 1000) : nil
    }

    private func recordSuccess(wrote: Bool) {
        stats.operations.add(1, ordering: .relaxed)
        if wrote { stats.writes.add(1, ordering: .relaxed) }
    }

    /// Rows each worker cycles through. The writes upsert into this fixed ring of slots rather
    /// than append, so that the table, and the cost of `SELECT COUNT(*)`, stay the same however
    /// long the demo runs; otherwise throughput would sink as the table grows and look like a
    /// pool problem.
    private static var slotsPerWorker: Int { 256 }

    /// One unit of work. Returns whether it wrote.
    ///
    /// Three in four are writes: insert (or overwrite) a row and read the table size in one
    /// transaction. The fourth only reads and leaves its transaction open on purpose: the pool's
    /// rollback-on-return ends it, which is the reset behaviour the demo is meant to exercise.
    private func operation(_ fairy: ConnectionFairy<Connection>, worker: Int, sequence: Int) throws -> Bool {
        guard let connection = fairy.dbapiConnection else { throw WorkloadError.noConnection }
        let table = backend.table
        if sequence % 4 == 0 {
            try connection.execute("BEGIN")
            _ = try count(connection, "SELECT COUNT(*) FROM \(table) WHERE worker = \(worker)")
            return false
        }
        try connection.execute(backend.beginWrite)
        let slot = worker * Self.slotsPerWorker + sequence % Self.slotsPerWorker
        try connection.execute(
            """
            INSERT INTO \(table) (slot, worker, note) VALUES (\(slot), \(worker), 'operation \(sequence)')
            ON CONFLICT (slot) DO UPDATE SET note = excluded.note, updated_at = CURRENT_TIMESTAMP
            """)
        // Between two statements, so that a kill here fails this operation mid-transaction.
        backend.chaos.midOperation(connection)
        _ = try count(connection, "SELECT COUNT(*) FROM \(table)")
        try connection.execute("COMMIT")
        return true
    }

    private func count(_ connection: Connection, _ sql: String) throws -> Int {
        let rows = try connection.query(sql)
        guard rows.count == 1, let text = rows[0].first ?? nil, let count = Int(text) else {
            throw WorkloadError.unexpectedResult(rows)
        }
        return count
    }

    // MARK: Chaos

    /// Strikes at random intervals averaging 0.5 s, so that kills land at different points of
    /// the workers' cycle rather than in lockstep with it.
    private func chaosLoop() {
        var striker: (any ChaosStriker)?
        var nextStrike = ContinuousClock.now + Self.randomInterval()
        while !stopping {
            guard ContinuousClock.now >= nextStrike else {
                sleepBriefly(.milliseconds(20))
                continue
            }
            do {
                if striker == nil { striker = try backend.chaos.makeStriker() }
                try striker?.strike(stats)
            } catch {
                terminal.message(singleLine("chaos: strike failed: \(error)"))
                // The admin connection may be what broke; make a new one next time.
                striker = nil
            }
            nextStrike = ContinuousClock.now + Self.randomInterval()
        }
    }

    private static func randomInterval() -> Duration {
        .milliseconds(Int.random(in: 200...800))
    }
}
