import DBPool

/// A connection from a ``ChaosDBAPI``. It fails as its driver's configuration says, and counts
/// what was done to it. Thread-safe.
///
/// Statements (``execute(_:)``, ``execute(_:_:)``, ``query(_:)``, ``query(_:_:)``,
/// ``queryRows(_:_:)``) meet the statement faults of ``ChaosConfiguration``, then are answered by
/// the driver's ``ChaosDBAPI/script`` (no script: success, no rows). The connection follows
/// transactions by statement text (`BEGIN`/`START TRANSACTION`, `COMMIT`/`END`, `ROLLBACK`) and by
/// ``commit()``/``rollback()``.
///
/// Once dropped (its fragile lifetime ran out, a ping, rollback or statement reported a
/// disconnect, or ``drop()`` was called) every ``rollback()``, ``commit()``, statement and ping
/// fails as a disconnect, and an open transaction is lost. ``close()`` always works (and may still throw, per ``ChaosConfiguration/closeThrows``).
public final class ChaosConnection: DBAPIConnection, SQLExecutor, Sendable, CustomStringConvertible {
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
        var statements = 0
        /// The statements of the open transaction, from its `BEGIN`; `nil` outside one.
        var transaction: [MockStatement]?
    }

    let state: Guarded<State>

    init(id: Int, driver: ChaosCore, lifetime: Int?) {
        self.id = id
        self.driver = driver
        state = Guarded(State(lifetime: lifetime))
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

    /// Kills the connection now: every later operation but close fails as a disconnect, and an
    /// open transaction is lost.
    public func drop() {
        state.withLock {
            $0.dropped = true
            $0.transaction = nil
        }
    }

    /// Runs a statement: throws ``ChaosDisconnectError`` if the connection has dropped (which it
    /// may do now, if it is fragile and its lifetime is up), meets the statement faults, then
    /// is answered by the driver's script (no script: does nothing).
    public func execute(_ sql: String) throws {
        _ = try runStatement(.execute, sql, [])
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
        if driver.fires(driver.configuration.closeThrows, .closeThrows, UInt64(id), 0) {
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
        if driver.fires(configuration.pingHangs, .pingHang, UInt64(id), UInt64(index)) {
            sleepThread(for: configuration.pingHangDelay)
        }
        var alive = try operate("ping()")
        if alive && driver.fires(configuration.pingDisconnects, .pingDisconnect, UInt64(id), UInt64(index)) {
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
        // Whatever happens below, the transaction is over: committed only on success.
        let transaction = state.withLock { state -> [MockStatement]? in
            defer { state.transaction = nil }
            return state.transaction
        }
        if try !operate("\(operation)()") {
            throw ChaosDisconnectError("connection #\(id) lost on \(operation)")
        }
        if driver.fires(configuration.rollbackDisconnects, .rollbackDisconnect, UInt64(id), UInt64(index)) {
            drop()
            throw ChaosDisconnectError("connection #\(id) lost on \(operation)")
        }
        if driver.fires(configuration.rollbackErrors, .rollbackError, UInt64(id), UInt64(index)) {
            throw ChaosError("\(operation) failed on #\(id)")
        }
        if operation == "commit", let transaction { driver.commit(transaction) }
    }
}
