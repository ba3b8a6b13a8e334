import DBPool
import Synchronization

/// A fake driver connection that records every call made on it, for asserting what a pool did.
///
/// It is the Swift counterpart of the mock connections in SQLAlchemy's pool tests: each method
/// appends its name to ``calls`` (`"rollback()"`, `"commit()"`, `"close()"`, `"cursor()"`,
/// `"ping()"`, `"execute(<sql>)"`, or anything passed to ``record(_:)``), ``close()`` marks it
/// ``closed``, and switches make individual operations fail as a disconnect or as an ordinary
/// error.
///
/// Statements (``execute(_:_:)``, ``query(_:_:)``, ``queryRows(_:_:)`` and their text-only forms)
/// are recorded in ``statements`` with their values and answered by the connection's ``script``
/// (see ``MockScript``): scripted rows or failures, and by default success with no rows.
///
/// You normally get connections from ``MockDBAPI/connect(_:)`` (or its ``MockDBAPI/creator(_:)``
/// closure), but you can also create one directly:
///
/// ```swift
/// let conn = MockConnection()
/// conn.failRollback = .disconnect          // the next rollback throws MockDisconnectError
/// conn.drop()                              // or: the server went away for good
/// XCTAssertEqual(conn.calls, ["rollback()", "close()"])
/// ```
///
/// Every property and method is safe to use from any thread: the state lives behind a lock.
/// The class conforms to `DBAPIConnection`, so it also works with `DefaultDialect`; use
/// ``MockDialect`` when the pool needs a ping or disconnect detection.
public final class MockConnection: DBAPIConnection, SQLExecutor, Sendable, CustomStringConvertible {
    private static let idCounter = Atomic<Int>(0)

    /// A number unique to this connection, increasing in creation order across the process.
    /// Use it as an identity token: `XCTAssertEqual(fairy.dbapiConnection?.id, firstID)`.
    public let id: Int

    private struct State {
        var calls: [String] = []
        var callsAfterClose: [String] = []
        var closed = false
        var closeCount = 0
        var dropped = false
        var failPing: MockFailure?
        var failRollback: MockFailure?
        var failCommit: MockFailure?
        var failClose = false
        var failExecute: MockFailure?
        var statements: [MockStatement] = []
    }

    private let state = Guarded(State())

    /// The script that answers this connection's statements (shared with the ``MockDBAPI`` that
    /// opened it, if any).
    public let script: MockScript

    /// Creates an open connection with a fresh ``id`` and no recorded calls.
    /// - Parameter script: answers the connection's statements; by default a new, empty script
    ///   (every `execute` succeeds and every query returns no rows).
    public init(script: MockScript = MockScript()) {
        id = MockConnection.idCounter.wrappingAdd(1, ordering: .relaxed).newValue
        self.script = script
    }

    /// `MockConnection#<id>`, plus ` (closed)` or ` (dropped)` when that applies.
    public var description: String {
        let (closed, dropped) = state.withLock { ($0.closed, $0.dropped) }
        return "MockConnection#\(id)\(closed ? " (closed)" : "")\(dropped ? " (dropped)" : "")"
    }

    // MARK: Inspection

    /// Every call made on this connection since it was created (or since ``resetCalls()``), in
    /// order, for example `["rollback()", "cursor()", "close()"]`.
    public var calls: [String] { state.withLock { $0.calls } }

    /// The calls made after the first ``close()``, including any further `close()`. A correct pool
    /// leaves this empty: it should never touch a connection it has closed.
    public var callsAfterClose: [String] { state.withLock { $0.callsAfterClose } }

    /// Whether ``close()`` has been called (even one that threw because of ``failClose``).
    public var closed: Bool { state.withLock { $0.closed } }

    /// How many times ``close()`` has been called.
    public var closeCount: Int { state.withLock { $0.closeCount } }

    /// The statements run on this connection, in order, with their values; failed ones included.
    /// ``MockScript/statements`` has those of every connection sharing the script.
    public var statements: [MockStatement] { state.withLock { $0.statements } }

    /// Whether ``drop()`` has been called.
    public var isDropped: Bool { state.withLock { $0.dropped } }

    /// Appends a custom entry to ``calls``, for example from a `reset` listener that calls a
    /// driver-specific method: `conn.record("specialReset(\(state.transactionWasReset))")`.
    public func record(_ call: String) {
        state.withLock { Self.append(call, to: &$0) }
    }

    /// Forgets the recorded calls (``calls`` and ``callsAfterClose``). The ``closed`` flag,
    /// ``closeCount`` and the failure switches are kept.
    public func resetCalls() {
        state.withLock {
            $0.calls.removeAll()
            $0.callsAfterClose.removeAll()
        }
    }

    // MARK: Failure switches

    /// How ``ping()`` (and ``MockDialect``'s ping) fails: `.disconnect` answers "not alive"
    /// (`false`); `.error` throws `MockError("ping failed")`. `nil` (default): the ping succeeds.
    public var failPing: MockFailure? {
        get { state.withLock { $0.failPing } }
        set { state.withLock { $0.failPing = newValue } }
    }

    /// How ``rollback()`` fails: `.disconnect` throws
    /// `MockDisconnectError("Lost the DB connection on rollback")`; `.error` throws
    /// `MockError("something broke on rollback but we didn't lose the connection")`.
    /// `nil` (default): the rollback succeeds.
    public var failRollback: MockFailure? {
        get { state.withLock { $0.failRollback } }
        set { state.withLock { $0.failRollback = newValue } }
    }

    /// How ``commit()`` fails: `.disconnect` throws
    /// `MockDisconnectError("Lost the DB connection on commit")`; `.error` throws
    /// `MockError("something broke on commit but we didn't lose the connection")`.
    /// `nil` (default): the commit succeeds.
    public var failCommit: MockFailure? {
        get { state.withLock { $0.failCommit } }
        set { state.withLock { $0.failCommit = newValue } }
    }

    /// When `true`, ``close()`` throws `MockError("something broke on close")`, after marking the
    /// connection closed. Default `false`.
    public var failClose: Bool {
        get { state.withLock { $0.failClose } }
        set { state.withLock { $0.failClose = newValue } }
    }

    /// How every statement fails, whatever the ``script`` says: `.disconnect` throws
    /// `MockDisconnectError("Lost the DB connection on execute")` (`… on query` for the query
    /// methods); `.error` throws
    /// `MockError("something broke on execute but we didn't lose the connection")` (likewise).
    /// `nil` (default): the ``script`` answers.
    public var failExecute: MockFailure? {
        get { state.withLock { $0.failExecute } }
        set { state.withLock { $0.failExecute = newValue } }
    }

    /// Simulates the server going away: from now on every ``rollback()``, ``commit()``,
    /// ``execute(_:)`` and ping fails as a disconnect, whatever the switches say. ``close()``
    /// still works. There is no way back, as with a real broken socket; make a new connection.
    public func drop() {
        state.withLock { $0.dropped = true }
    }

    // MARK: Driver operations

    /// Records `"rollback()"`, then throws if ``failRollback`` is set or the connection was
    /// dropped.
    public func rollback() throws {
        try perform("rollback()", operation: "rollback", switch: \.failRollback)
    }

    /// Records `"commit()"`, then throws if ``failCommit`` is set or the connection was dropped.
    public func commit() throws {
        try perform("commit()", operation: "commit", switch: \.failCommit)
    }

    /// Records `"close()"`, marks the connection ``closed`` and counts the call in
    /// ``closeCount``; then throws `MockError("something broke on close")` if ``failClose`` is
    /// set. Closing twice is allowed and recorded twice.
    public func close() throws {
        let fail = state.withLock { state -> Bool in
            Self.append("close()", to: &state)
            state.closed = true
            state.closeCount += 1
            return state.failClose
        }
        if fail { throw MockError("something broke on close") }
    }

    /// Records `"cursor()"`. The mock has no cursor object; SQLAlchemy's tests only look at the
    /// fact that a cursor was asked for (a ping asks for one).
    public func cursor() {
        record("cursor()")
    }

    /// Records `"execute(<sql>)"` in ``calls`` and the statement in ``statements``, then throws
    /// if ``failExecute`` is set or the connection was dropped; otherwise the ``script`` decides
    /// (by default the statement succeeds and does nothing).
    public func execute(_ sql: String) throws {
        _ = try run(.execute, sql, [])
    }

    /// ``execute(_:)`` with bound values, recorded with the statement.
    public func execute(_ sql: String, _ parameters: [SQLValue]) throws {
        _ = try run(.execute, sql, parameters)
    }

    /// Records `"query(<sql>)"` and the statement, fails as ``execute(_:)`` does, then returns the
    /// ``script``'s rows as text: `NULL` as `nil`, integers and doubles in Swift's decimal form,
    /// booleans as `"true"`/`"false"`, bytes decoded as UTF-8. No rule: no rows.
    public func query(_ sql: String) throws -> [[String?]] {
        try query(sql, [])
    }

    /// ``query(_:)`` with bound values, recorded with the statement.
    public func query(_ sql: String, _ parameters: [SQLValue]) throws -> [[String?]] {
        try run(.query, sql, parameters).rows.map { $0.map(Self.text) }
    }

    /// Records `"query(<sql>)"` and the statement, fails as ``execute(_:)`` does, then returns the
    /// ``script``'s rows as scripted, with its column names. No rule: no rows.
    public func queryRows(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow] {
        let (columns, rows) = try run(.query, sql, parameters)
        return rows.map { SQLRow(columns: columns, values: $0) }
    }

    /// Records `"ping()"` and answers whether the connection is alive: `false` if it was dropped
    /// or ``failPing`` is `.disconnect`; throws `MockError("ping failed")` if ``failPing`` is
    /// `.error`; `true` otherwise.
    ///
    /// ``MockDialect`` does not call this (it pings through ``cursor()``, as SQLAlchemy's
    /// default dialect does); it is here for your own dialects built on `MockConnection`.
    public func ping() throws -> Bool {
        record("ping()")
        return try pingOutcome()
    }

    // MARK: Internals

    /// The ping answer without recording a call: `false` for a disconnect, throws for `.error`.
    func pingOutcome() throws -> Bool {
        let (dropped, failure) = state.withLock { ($0.dropped, $0.failPing) }
        if dropped { return false }
        switch failure {
        case nil: return true
        case .disconnect: return false
        case .error: throw MockError("ping failed")
        }
    }

    private func run(_ kind: MockStatement.Kind, _ sql: String, _ parameters: [SQLValue]) throws
        -> (columns: [String], rows: [[SQLValue]])
    {
        let statement = MockStatement(kind: kind, sql: sql, parameters: parameters, connectionID: id)
        let failure = state.withLock { state -> MockFailure? in
            Self.append("\(kind.rawValue)(\(sql))", to: &state)
            state.statements.append(statement)
            return state.dropped ? .disconnect : state.failExecute
        }
        switch failure {
        case nil:
            return try script.answer(statement)
        case .disconnect:
            script.log(statement)
            throw MockDisconnectError("Lost the DB connection on \(kind.rawValue)")
        case .error:
            script.log(statement)
            throw MockError("something broke on \(kind.rawValue) but we didn't lose the connection")
        }
    }

    static func text(_ value: SQLValue) -> String? {
        switch value {
        case .null: return nil
        case let .text(text): return text
        case let .bytes(bytes): return String(decoding: bytes, as: UTF8.self)
        case let .integer(number): return String(number)
        case let .double(number): return String(number)
        case let .bool(flag): return flag ? "true" : "false"
        }
    }

    private func perform(
        _ call: String, operation: String, switch keyPath: KeyPath<State, MockFailure?>
    ) throws {
        let failure = state.withLock { state -> MockFailure? in
            Self.append(call, to: &state)
            return state.dropped ? .disconnect : state[keyPath: keyPath]
        }
        switch failure {
        case nil:
            return
        case .disconnect:
            throw MockDisconnectError("Lost the DB connection on \(operation)")
        case .error:
            throw MockError("something broke on \(operation) but we didn't lose the connection")
        }
    }

    private static func append(_ call: String, to state: inout State) {
        state.calls.append(call)
        if state.closed { state.callsAfterClose.append(call) }
    }
}
