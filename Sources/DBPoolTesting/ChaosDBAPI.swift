import DBPool

/// A seeded fault-injecting fake driver, for testing that a pool, or your code on top of one,
/// keeps its promises when the database misbehaves: connects fail or are slow, connections drop
/// after a while, pings hang or report a disconnect, rollbacks fail, closes throw, and the
/// statements your code runs fail, hang, or lose the connection mid-transaction.
///
/// It also keeps the books a leak test needs: every connection it ever opened, how many times
/// each was closed, which are still open, and the most that were open at once.
///
/// ```swift
/// let chaos = ChaosDBAPI(seed: 7, configuration: .everything)
/// let pool = try QueuePool(poolSize: 4, maxOverflow: 2, options: PoolOptions(prePing: true),
///                          dialect: ChaosDialect(), creator: chaos.creator())
/// // ... exercise the pool; errors from connect() and from your queries are expected ...
/// pool.dispose()
/// XCTAssertEqual(chaos.problems(expectOpen: 0), [], chaos.failureMessage)
/// ```
///
/// Print ``failureMessage`` (it names the seed) with every assertion, so that a failing run can
/// be replayed with the same seed. All members are thread-safe.
public final class ChaosDBAPI: Sendable, CustomStringConvertible {
    /// The seed every fault decision derives from.
    public var seed: UInt64 { core.seed }
    /// The faults this driver injects.
    public var configuration: ChaosConfiguration { core.configuration }

    struct Ledger {
        var connectAttempts = 0
        var failedConnects = 0
        var connections: [ChaosConnection] = []
    }

    let ledger = Guarded(Ledger())
    /// What connections need from their driver. Connections hold this, not the driver, because
    /// the driver holds every connection it opened: a connection holding the driver would make
    /// a cycle, and the driver and all its connections would never be freed.
    let core: ChaosCore

    /// Creates a driver whose faults follow `configuration`, decided by `seed`.
    ///
    /// - Parameters:
    ///   - seed: the seed of every fault decision (a ``ChaosRate`` may carry its own).
    ///   - configuration: the faults to inject; none by default.
    ///   - script: answers statements that no fault stops (rows for queries, scripted failures),
    ///     and logs them, as for a ``MockConnection``. With a script the driver also keeps
    ///     ``committedTransactions``. Without one (the default, for long soaks that must not
    ///     grow), statements that no fault stops succeed with no rows and nothing is logged.
    public init(seed: UInt64, configuration: ChaosConfiguration = ChaosConfiguration(), script: MockScript? = nil) {
        core = ChaosCore(seed: seed, configuration: configuration, script: script)
    }

    /// The script given at creation, if any.
    public var script: MockScript? { core.script }

    /// The work that reached the "database" for good, in commit order, when the driver has a
    /// ``script``: one entry per committed transaction (its statements from `BEGIN` to `COMMIT`
    /// inclusive, or up to a ``ChaosConnection/commit()``), and one single-statement entry per
    /// statement that succeeded outside a transaction. Statements of a transaction that was rolled
    /// back or lost to a disconnect are not here. Compare it with what your code reported as
    /// done: every success must be here exactly once, and nothing reported as failed.
    public var committedTransactions: [[MockStatement]] { core.committed.withLock { $0 } }

    func bits(_ stream: ChaosCore.Stream, _ a: UInt64, _ b: UInt64, seed: UInt64? = nil) -> UInt64 {
        core.bits(stream, a, b, seed: seed)
    }

    func fires(_ rate: ChaosRate, _ stream: ChaosCore.Stream, _ a: UInt64, _ b: UInt64) -> Bool {
        core.fires(rate, stream, a, b)
    }

    // MARK: Connecting

    /// Opens a new connection, or throws ``ChaosError`` ("connect failed") when the
    /// configuration says this connect fails. A slow connect sleeps first, holding no lock.
    public func connect() throws -> ChaosConnection {
        let attempt = ledger.withLock { ledger -> Int in
            ledger.connectAttempts += 1
            return ledger.connectAttempts
        }
        if fires(configuration.slowConnects, .slow, UInt64(attempt), 0) {
            sleepThread(for: configuration.connectDelay)
        }
        if fires(configuration.connectFailures, .connect, UInt64(attempt), 0) {
            ledger.withLock { $0.failedConnects += 1 }
            throw ChaosError("connect failed (attempt \(attempt))")
        }
        return ledger.withLock { ledger in
            let id = ledger.connections.count + 1
            var lifetime: Int?
            if fires(configuration.fragileConnections, .fragile, UInt64(id), 0) {
                let range = configuration.fragileLifetime
                let span = UInt64(range.upperBound - range.lowerBound + 1)
                lifetime = range.lowerBound + Int(bits(.lifetime, UInt64(id), 0, seed: configuration.fragileConnections.seed) % span)
            }
            let connection = ChaosConnection(id: id, driver: core, lifetime: lifetime)
            ledger.connections.append(connection)
            core.connectionOpened()
            return connection
        }
    }

    /// A creator closure for a pool initialiser: `{ try chaos.connect() }`.
    public func creator() -> @Sendable () throws -> ChaosConnection {
        { [self] in try self.connect() }
    }

    /// Stops counting `connection` in ``openCount`` and ``peakOpenCount``. Call it just before
    /// `fairy.detach()`: a detached connection no longer counts against the pool's limits, so a
    /// test that checks `peakOpenCount <= size + overflow` must leave it out. It is still
    /// reported by ``openConnections`` and checked by ``problems(expectOpen:)``.
    public func excludeFromLimit(_ connection: ChaosConnection) {
        connection.exclude()
    }

    // MARK: Inspection

    /// How many times ``connect()`` was called, successful or not.
    public var connectAttempts: Int { ledger.withLock { $0.connectAttempts } }
    /// How many calls to ``connect()`` threw.
    public var failedConnects: Int { ledger.withLock { $0.failedConnects } }
    /// Every connection ever opened, in order (``ChaosConnection/id`` 1, 2, 3, ...).
    public var connections: [ChaosConnection] { ledger.withLock { $0.connections } }
    /// The connections never closed.
    public var openConnections: [ChaosConnection] { connections.filter { $0.closeCount == 0 } }
    /// Connections open now (opened, not yet closed), leaving out those passed to
    /// ``excludeFromLimit(_:)``. A connection counts as closed as soon as its `close()` starts.
    public var openCount: Int { core.counts.withLock { $0.open } }
    /// The highest ``openCount`` ever reached.
    public var peakOpenCount: Int { core.counts.withLock { $0.peak } }

    /// Everything that is wrong with the driver's books, one line each; empty when all is well:
    /// a connection closed more than once, a connection used after it was closed, and, if
    /// `expectOpen` is given, a number of never-closed connections other than `expectOpen` (pass
    /// the number of connections you know are still pooled, for example `pool.checkedIn`, or 0
    /// after `dispose()`).
    public func problems(expectOpen: Int? = nil) -> [String] {
        var found: [String] = []
        let all = connections
        for connection in all {
            let closes = connection.closeCount
            if closes > 1 { found.append("connection #\(connection.id) closed \(closes) times") }
            let late = connection.callsAfterClose
            if !late.isEmpty { found.append("connection #\(connection.id) used after close: \(late.joined(separator: ", "))") }
        }
        if let expectOpen {
            let open = all.filter { $0.closeCount == 0 }
            if open.count != expectOpen {
                found.append("\(open.count) connections never closed (\(open.map { "#\($0.id)" }.joined(separator: ", "))), expected \(expectOpen) still pooled")
            }
        }
        return found
    }

    /// A line to attach to every assertion: the seed (so the run can be replayed), the
    /// configuration, and the driver's counts.
    public var failureMessage: String {
        let (attempts, failed, count) = ledger.withLock { ($0.connectAttempts, $0.failedConnects, $0.connections.count) }
        let (open, peak) = core.counts.withLock { ($0.open, $0.peak) }
        return "[ChaosDBAPI seed \(seed) (0x\(String(seed, radix: 16))); replay with ChaosDBAPI(seed: \(seed), configuration: same); "
            + "\(attempts) connects, \(failed) failed, \(count) connections, \(open) open, peak \(peak); faults: \(configuration)]"
    }

    /// Same as ``failureMessage``.
    public var description: String { failureMessage }

}

/// The part of a ``ChaosDBAPI`` its connections use: the seed and configuration behind every
/// fault decision, and the count of open connections.
final class ChaosCore: Sendable {
    let seed: UInt64
    let configuration: ChaosConfiguration
    struct Counts {
        var open = 0
        var peak = 0
    }
    let counts = Guarded(Counts())
    let script: MockScript?
    let committed = Guarded<[[MockStatement]]>([])

    init(seed: UInt64, configuration: ChaosConfiguration, script: MockScript?) {
        self.seed = seed
        self.configuration = configuration
        self.script = script
    }

    func commit(_ statements: [MockStatement]) {
        guard script != nil, !statements.isEmpty else { return }
        committed.withLock { $0.append(statements) }
    }

    // New streams go at the end: the raw values feed the seeds, so renumbering would change
    // every recorded fault pattern.
    enum Stream: UInt64 {
        case connect = 1, slow, fragile, lifetime, pingHang, pingDisconnect, rollbackDisconnect, rollbackError, closeThrows
        case statementError, statementDisconnect, midTransactionDisconnect, disconnectAfterStatement, slowStatement
    }

    /// 64 random bits for one decision, a pure function of the seed (a rate's own, or the
    /// driver's), the stream and the position.
    func bits(_ stream: Stream, _ a: UInt64, _ b: UInt64, seed: UInt64? = nil) -> UInt64 {
        ChaosRandom.derive(ChaosRandom.derive(ChaosRandom.derive(seed ?? self.seed, stream.rawValue), a), b)
    }

    /// Whether `rate` fires at this position of `stream`.
    func fires(_ rate: ChaosRate, _ stream: Stream, _ a: UInt64, _ b: UInt64) -> Bool {
        rate.fires(bits(stream, a, b, seed: rate.seed))
    }

    func connectionOpened() {
        counts.withLock { counts in
            counts.open += 1
            counts.peak = max(counts.peak, counts.open)
        }
    }

    func connectionClosed(counted: Bool) {
        guard counted else { return }
        counts.withLock { $0.open -= 1 }
    }

    func connectionExcluded() {
        counts.withLock { $0.open -= 1 }
    }
}
