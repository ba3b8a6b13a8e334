import DBPool

/// Which faults a ``ChaosDBAPI`` injects, and how often. Every fault is off by default.
///
/// Rates are ``ChaosRate`` values (`k` in `n`); whether a particular connect, ping, rollback or
/// close faults is decided by the driver's seed and that operation's position (the 7th connect,
/// the 3rd rollback of connection #12), so a single-threaded run replays exactly from its seed,
/// and a multi-threaded one replays the same fault pattern.
///
/// ```swift
/// var faults = ChaosConfiguration()
/// faults.connectFailures = ChaosRate(1, in: 10)     // one connect in ten throws
/// faults.slowConnects = ChaosRate(1, in: 5)         // one in five sleeps `connectDelay` first
/// faults.fragileConnections = ChaosRate(1, in: 4)   // a quarter of connections drop...
/// faults.fragileLifetime = 5...50                   // ...after 5 to 50 operations
/// faults.rollbackDisconnects = ChaosRate(1, in: 50)
/// let chaos = ChaosDBAPI(seed: 42, configuration: faults)
/// ```
///
/// Delays are real sleeps of the calling thread; keep them small (milliseconds).
public struct ChaosConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// How often `connect` throws ``ChaosError`` ("connect failed") instead of connecting.
    public var connectFailures: ChaosRate = .never
    /// How often `connect` sleeps ``connectDelay`` before connecting (or failing).
    public var slowConnects: ChaosRate = .never
    /// How long a slow connect sleeps. Default 1 ms.
    public var connectDelay: Duration = .milliseconds(1)
    /// How many connections are fragile: they drop (every later operation fails as a
    /// disconnect) after a number of operations drawn from ``fragileLifetime``.
    public var fragileConnections: ChaosRate = .never
    /// The number of operations (rollback, commit, execute, ping) a fragile connection survives.
    /// Default `1...20`.
    public var fragileLifetime: ClosedRange<Int> = 1...20
    /// How often a ping hangs for ``pingHangDelay`` before answering.
    public var pingHangs: ChaosRate = .never
    /// How long a hanging ping sleeps. Default 2 ms.
    public var pingHangDelay: Duration = .milliseconds(2)
    /// How often a ping reports a disconnect. The connection is then dropped for good.
    public var pingDisconnects: ChaosRate = .never
    /// When `true`, a ping on a dead connection throws ``ChaosDisconnectError`` instead of
    /// answering `false`, to test that the pool classifies ping errors with `isDisconnect`.
    public var pingThrowsOnDisconnect = false
    /// How often `rollback` (and `commit`) throws ``ChaosDisconnectError``. The connection is then
    /// dropped for good.
    public var rollbackDisconnects: ChaosRate = .never
    /// How often `rollback` (and `commit`) throws an ordinary ``ChaosError``; the connection stays
    /// usable.
    public var rollbackErrors: ChaosRate = .never
    /// How often `close` throws ``ChaosError`` (after closing the connection, as drivers do).
    public var closeThrows: ChaosRate = .never

    /// A configuration with every fault off. Set the fields you want.
    public init() {}

    /// A mix of every fault at a moderate rate, for stress and soak tests: about one connect in
    /// twenty fails, one in ten is slow, one connection in five drops within 10 to 200
    /// operations, and pings, rollbacks and closes fail now and then.
    public static var everything: ChaosConfiguration {
        var c = ChaosConfiguration()
        c.connectFailures = ChaosRate(1, in: 20)
        c.slowConnects = ChaosRate(1, in: 10)
        c.connectDelay = .milliseconds(1)
        c.fragileConnections = ChaosRate(1, in: 5)
        c.fragileLifetime = 10...200
        c.pingHangs = ChaosRate(1, in: 50)
        c.pingHangDelay = .milliseconds(2)
        c.pingDisconnects = ChaosRate(1, in: 100)
        c.rollbackDisconnects = ChaosRate(1, in: 100)
        c.rollbackErrors = ChaosRate(1, in: 100)
        c.closeThrows = ChaosRate(1, in: 50)
        return c
    }

    /// Every setting, on one line, for failure messages.
    public var description: String {
        "connectFailures: \(connectFailures), slowConnects: \(slowConnects) x \(connectDelay), "
            + "fragileConnections: \(fragileConnections) after \(fragileLifetime) ops, "
            + "pingHangs: \(pingHangs) x \(pingHangDelay), pingDisconnects: \(pingDisconnects)"
            + "\(pingThrowsOnDisconnect ? " (thrown)" : ""), rollbackDisconnects: \(rollbackDisconnects), "
            + "rollbackErrors: \(rollbackErrors), closeThrows: \(closeThrows)"
    }
}

/// An ordinary driver error injected by ``ChaosDBAPI``: the operation failed, but the connection
/// is still usable. ``ChaosDialect`` does not treat it as a disconnect.
public struct ChaosError: Error, Equatable, CustomStringConvertible {
    /// What failed, for example `"connect failed"` or `"rollback failed on #3"`.
    public var message: String
    /// Creates an error with the given text.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { "ChaosError: \(message)" }
}

/// A driver error injected by ``ChaosDBAPI`` that means the connection is gone.
/// ``ChaosDialect/isDisconnect(_:connection:)`` recognises exactly this type.
public struct ChaosDisconnectError: Error, Equatable, CustomStringConvertible {
    /// What failed, for example `"connection #3 lost on rollback"`.
    public var message: String
    /// Creates an error with the given text.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { "ChaosDisconnectError: \(message)" }
}

/// A seeded fault-injecting fake driver, for testing that a pool, or your code on top of one,
/// keeps its promises when the database misbehaves: connects fail or are slow, connections drop
/// after a while, pings hang or report a disconnect, rollbacks fail, closes throw.
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

    let ledger = Locked(Ledger())
    /// What connections need from their driver. Connections hold this, not the driver, because
    /// the driver holds every connection it opened: a connection holding the driver would make
    /// a cycle, and the driver and all its connections would never be freed.
    let core: ChaosCore

    /// Creates a driver whose faults follow `configuration`, decided by `seed`.
    public init(seed: UInt64, configuration: ChaosConfiguration = ChaosConfiguration()) {
        core = ChaosCore(seed: seed, configuration: configuration)
    }

    func bits(_ stream: ChaosCore.Stream, _ a: UInt64, _ b: UInt64) -> UInt64 {
        core.bits(stream, a, b)
    }

    // MARK: Connecting

    /// Opens a new connection, or throws ``ChaosError`` ("connect failed") when the
    /// configuration says this connect fails. A slow connect sleeps first, holding no lock.
    public func connect() throws -> ChaosConnection {
        let attempt = ledger.withLock { ledger -> Int in
            ledger.connectAttempts += 1
            return ledger.connectAttempts
        }
        if configuration.slowConnects.fires(bits(.slow, UInt64(attempt), 0)) {
            sleepThread(for: configuration.connectDelay)
        }
        if configuration.connectFailures.fires(bits(.connect, UInt64(attempt), 0)) {
            ledger.withLock { $0.failedConnects += 1 }
            throw ChaosError("connect failed (attempt \(attempt))")
        }
        return ledger.withLock { ledger in
            let id = ledger.connections.count + 1
            var lifetime: Int?
            if configuration.fragileConnections.fires(bits(.fragile, UInt64(id), 0)) {
                let range = configuration.fragileLifetime
                let span = UInt64(range.upperBound - range.lowerBound + 1)
                lifetime = range.lowerBound + Int(bits(.lifetime, UInt64(id), 0) % span)
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
    let counts = Locked(Counts())

    init(seed: UInt64, configuration: ChaosConfiguration) {
        self.seed = seed
        self.configuration = configuration
    }

    enum Stream: UInt64 {
        case connect = 1, slow, fragile, lifetime, pingHang, pingDisconnect, rollbackDisconnect, rollbackError, closeThrows
    }

    /// 64 random bits for one decision, a pure function of the seed, the stream and the position.
    func bits(_ stream: Stream, _ a: UInt64, _ b: UInt64) -> UInt64 {
        ChaosRandom.derive(ChaosRandom.derive(ChaosRandom.derive(seed, stream.rawValue), a), b)
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

/// A connection from a ``ChaosDBAPI``. It fails as its driver's configuration says, and counts
/// what was done to it. Thread-safe.
///
/// Once dropped (its fragile lifetime ran out, a ping or rollback reported a disconnect, or
/// ``drop()`` was called) every ``rollback()``, ``commit()``, ``execute(_:)`` and ping fails as a
/// disconnect. ``close()`` always works (and may still throw, per ``ChaosConfiguration/closeThrows``).
public final class ChaosConnection: DBAPIConnection, Sendable, CustomStringConvertible {
    /// The connection's number within its driver: 1 for the first connection opened, and so on.
    public let id: Int
    let driver: ChaosCore

    struct State {
        var operations = 0
        var lifetime: Int?
        var dropped = false
        var closeCount = 0
        var counted = true
        var rollbacks = 0
        var pings = 0
        var callsAfterClose: [String] = []
    }

    let state: Locked<State>

    init(id: Int, driver: ChaosCore, lifetime: Int?) {
        self.id = id
        self.driver = driver
        state = Locked(State(lifetime: lifetime))
    }

    /// `ChaosConnection#<id>`, plus ` (closed)` or ` (dropped)`.
    public var description: String {
        let (closed, dropped) = state.withLock { ($0.closeCount > 0, $0.dropped) }
        return "ChaosConnection#\(id)\(closed ? " (closed)" : "")\(dropped ? " (dropped)" : "")"
    }

    // MARK: Inspection

    /// How many times ``close()`` was called. A pool should close each connection exactly once.
    public var closeCount: Int { state.withLock { $0.closeCount } }
    /// Whether ``close()`` was called.
    public var isClosed: Bool { closeCount > 0 }
    /// Whether the connection is dead (every operation but close fails as a disconnect).
    public var isDropped: Bool { state.withLock { $0.dropped } }
    /// How many operations (rollback, commit, execute, ping) were made on it.
    public var operationCount: Int { state.withLock { $0.operations } }
    /// Operations made after the first ``close()``, including further closes. A correct pool
    /// leaves this empty.
    public var callsAfterClose: [String] { state.withLock { $0.callsAfterClose } }

    // MARK: Operations

    /// Kills the connection now: every later operation but close fails as a disconnect.
    public func drop() {
        state.withLock { $0.dropped = true }
    }

    /// Runs a statement: does nothing, or throws ``ChaosDisconnectError`` if the connection has
    /// dropped (which it may do now, if it is fragile and its lifetime is up).
    public func execute(_ sql: String) throws {
        if try !operate("execute(\(sql))") {
            throw ChaosDisconnectError("connection #\(id) lost on execute")
        }
    }

    /// Rolls back: throws ``ChaosDisconnectError`` if the connection is dropped or the
    /// configuration injects a disconnect here (dropping it), ``ChaosError`` if it injects an
    /// ordinary error.
    public func rollback() throws {
        try endTransaction("rollback")
    }

    /// Commits; fails exactly like ``rollback()``.
    public func commit() throws {
        try endTransaction("commit")
    }

    /// Closes the connection (counted in ``closeCount``), then throws ``ChaosError`` if the
    /// configuration says this close fails. Closing twice is recorded, and reported by
    /// ``ChaosDBAPI/problems(expectOpen:)``.
    public func close() throws {
        let (first, counted) = state.withLock { state -> (Bool, Bool) in
            if state.closeCount > 0 { state.callsAfterClose.append("close()") }
            state.closeCount += 1
            return (state.closeCount == 1, state.counted)
        }
        if first { driver.connectionClosed(counted: counted) }
        if driver.configuration.closeThrows.fires(driver.bits(.closeThrows, UInt64(id), 0)) {
            throw ChaosError("close failed on #\(id)")
        }
    }

    /// Pings: may hang for the configured delay, then answers `false` (or throws
    /// ``ChaosDisconnectError`` with ``ChaosConfiguration/pingThrowsOnDisconnect``) if the
    /// connection is dropped or the configuration injects a disconnect here; `true` otherwise.
    public func ping() throws -> Bool {
        let configuration = driver.configuration
        let index = state.withLock { state -> Int in
            state.pings += 1
            return state.pings
        }
        if configuration.pingHangs.fires(driver.bits(.pingHang, UInt64(id), UInt64(index))) {
            sleepThread(for: configuration.pingHangDelay)
        }
        var alive = try operate("ping()")
        if alive && configuration.pingDisconnects.fires(driver.bits(.pingDisconnect, UInt64(id), UInt64(index))) {
            drop()
            alive = false
        }
        if !alive && configuration.pingThrowsOnDisconnect {
            throw ChaosDisconnectError("connection #\(id) lost on ping")
        }
        return alive
    }

    // MARK: Internals

    func exclude() {
        let wasCounted = state.withLock { state -> Bool in
            let was = state.counted && state.closeCount == 0
            state.counted = false
            return was
        }
        if wasCounted { driver.connectionExcluded() }
    }

    /// Counts one operation and answers whether the connection is still alive afterwards.
    private func operate(_ call: String) throws -> Bool {
        state.withLock { state in
            if state.closeCount > 0 { state.callsAfterClose.append(call) }
            state.operations += 1
            if let lifetime = state.lifetime, state.operations > lifetime { state.dropped = true }
            return !state.dropped
        }
    }

    private func endTransaction(_ operation: String) throws {
        let configuration = driver.configuration
        let index = state.withLock { state -> Int in
            state.rollbacks += 1
            return state.rollbacks
        }
        if try !operate("\(operation)()") {
            throw ChaosDisconnectError("connection #\(id) lost on \(operation)")
        }
        if configuration.rollbackDisconnects.fires(driver.bits(.rollbackDisconnect, UInt64(id), UInt64(index))) {
            drop()
            throw ChaosDisconnectError("connection #\(id) lost on \(operation)")
        }
        if configuration.rollbackErrors.fires(driver.bits(.rollbackError, UInt64(id), UInt64(index))) {
            throw ChaosError("\(operation) failed on #\(id)")
        }
    }
}

/// The `Dialect` for ``ChaosConnection``: rollback, commit, close and terminate call the
/// connection's methods, the ping calls ``ChaosConnection/ping()``, and ``isDisconnect(_:connection:)``
/// recognises ``ChaosDisconnectError``.
///
/// ```swift
/// let pool = try QueuePool(options: PoolOptions(prePing: true), dialect: ChaosDialect(),
///                          creator: chaos.creator())
/// ```
public struct ChaosDialect: Dialect {
    /// Creates the dialect.
    public init() {}
    /// Calls ``ChaosConnection/rollback()``.
    public func doRollback(_ connection: ChaosConnection) throws { try connection.rollback() }
    /// Calls ``ChaosConnection/commit()``.
    public func doCommit(_ connection: ChaosConnection) throws { try connection.commit() }
    /// Calls ``ChaosConnection/close()``.
    public func doClose(_ connection: ChaosConnection) throws { try connection.close() }
    /// Calls ``ChaosConnection/close()``: a fake connection has no harder way to close.
    public func doTerminate(_ connection: ChaosConnection) throws { try connection.close() }
    /// Calls ``ChaosConnection/ping()``.
    public func doPing(_ connection: ChaosConnection) throws -> Bool { try connection.ping() }
    /// `true` exactly for ``ChaosDisconnectError``.
    public func isDisconnect(_ error: any Error, connection: ChaosConnection?) -> Bool {
        error is ChaosDisconnectError
    }
}
