import DBPool

/// The answers a ``MockConnection`` gives to statements: scripted rows, scripted failures, and a
/// log of every statement run, in order, across all connections that share the script.
///
/// Give one script to a ``MockDBAPI`` and every connection it opens answers from it, so a test
/// scripts the "database" once, however many connections the pool makes:
///
/// ```swift
/// let dbapi = MockDBAPI()
/// dbapi.script.respond(to: .exact("SELECT name FROM users WHERE id = ?"), columns: ["name"], rows: [["alice"]])
/// dbapi.script.failOnce(.prefix("UPDATE users"), with: .disconnect)
/// // ... run the code under test against a pool on dbapi.creator() ...
/// XCTAssertEqual(dbapi.script.statements.map(\.sql), [...])
/// ```
///
/// **Which rule answers.** The newest rule that matches and has uses left answers, so a later,
/// narrower rule overrides an earlier, broader one. A rule given `times:` (or added with
/// `failOnce`) is used up after that many answers; the next matching rule then answers.
///
/// **Unscripted statements** (no rule matches) follow ``unscripted``: by default
/// (``Unscripted/succeed``) an `execute` succeeds and a query returns no rows, so only the
/// statements a test cares about need scripting. With ``Unscripted/fail`` they throw
/// `MockError("unscripted statement: <sql>")`, for tests that must see every statement coming.
///
/// ``MockConnection``'s own switches (`failExecute`, `drop()`) act before the script.
/// Thread-safe.
public final class MockScript: Sendable {
    /// What a statement that matches no rule does.
    public enum Unscripted: Sendable, Equatable {
        /// `execute` succeeds; a query returns no rows. The default.
        case succeed
        /// Throw `MockError("unscripted statement: <sql>")`.
        case fail
    }

    /// A scripted answer.
    enum Answer {
        case rows(columns: [String], [[SQLValue]])
        case failure(MockFailure)
        case error(any Error & Sendable)
    }

    private struct Rule {
        var matcher: MockStatementMatcher
        var answer: Answer
        var remaining: Int?
    }

    private struct State {
        var rules: [Rule] = []
        var statements: [MockStatement] = []
    }

    private let state = Guarded(State())

    /// What a statement that matches no rule does.
    public let unscripted: Unscripted

    /// Creates a script with no rules.
    /// - Parameter unscripted: what a statement that matches no rule does; ``Unscripted/succeed``
    ///   by default.
    public init(unscripted: Unscripted = .succeed) {
        self.unscripted = unscripted
    }

    // MARK: Rows

    /// Answers every matching statement with `rows` (a query returns them; an `execute`
    /// succeeds and ignores them).
    /// - Parameters:
    ///   - matcher: which statements this rule answers.
    ///   - columns: the column names `SQLRow/columns` reports; may be empty.
    ///   - rows: the rows, each a list of values.
    public func respond(to matcher: MockStatementMatcher, columns: [String] = [], rows: [[SQLValue]]) {
        add(matcher, .rows(columns: columns, rows), remaining: nil)
    }

    /// Answers the next `times` matching statements with `rows`, then steps aside.
    /// - Throws: `PoolError.invalidArgument` if `times` is below 1.
    public func respond(to matcher: MockStatementMatcher, columns: [String] = [], rows: [[SQLValue]], times: Int) throws {
        try add(matcher, .rows(columns: columns, rows), times: times, caller: "respond(to:columns:rows:times:)")
    }

    // MARK: Failures

    /// Makes every matching statement fail: `.disconnect` throws
    /// `MockDisconnectError("Lost the DB connection on <sql>")` (which ``MockDialect`` recognises,
    /// so a pool invalidates the connection); `.error` throws `MockError("statement failed: <sql>")`
    /// and the connection stays usable. A disconnect does not drop the connection: later
    /// statements are answered by the script as before.
    public func fail(_ matcher: MockStatementMatcher, with failure: MockFailure) {
        add(matcher, .failure(failure), remaining: nil)
    }

    /// Makes the next matching statement fail (see ``fail(_:with:)``), then steps aside.
    public func failOnce(_ matcher: MockStatementMatcher, with failure: MockFailure) {
        add(matcher, .failure(failure), remaining: 1)
    }

    /// Makes the next `times` matching statements fail (see ``fail(_:with:)``), then steps aside.
    /// - Throws: `PoolError.invalidArgument` if `times` is below 1.
    public func fail(_ matcher: MockStatementMatcher, with failure: MockFailure, times: Int) throws {
        try add(matcher, .failure(failure), times: times, caller: "fail(_:with:times:)")
    }

    /// Makes every matching statement throw `error`, your own type, for code that looks for a
    /// particular driver error (a unique-constraint violation, say).
    public func fail(_ matcher: MockStatementMatcher, throwing error: any Error & Sendable) {
        add(matcher, .error(error), remaining: nil)
    }

    /// Makes the next `times` matching statements throw `error`, then steps aside.
    /// - Throws: `PoolError.invalidArgument` if `times` is below 1.
    public func fail(_ matcher: MockStatementMatcher, throwing error: any Error & Sendable, times: Int) throws {
        try add(matcher, .error(error), times: times, caller: "fail(_:throwing:times:)")
    }

    /// Removes every rule. The statement log is kept.
    public func removeAllRules() {
        state.withLock { $0.rules.removeAll() }
    }

    // MARK: Inspection

    /// Every statement run on a connection using this script, in the order they ran, including
    /// the ones that failed.
    public var statements: [MockStatement] { state.withLock { $0.statements } }

    /// The matchers of rules with a `times` limit that still have uses left, for asserting that
    /// every scripted failure or answer was reached: `XCTAssertEqual(script.pendingRules, [])`.
    public var pendingRules: [String] {
        state.withLock { $0.rules.filter { ($0.remaining ?? 0) > 0 }.map(\.matcher.description) }
    }

    /// Forgets the statement log. Rules are kept.
    public func removeAllStatements() {
        state.withLock { $0.statements.removeAll() }
    }

    // MARK: Internals

    private func add(_ matcher: MockStatementMatcher, _ answer: Answer, times: Int, caller: String) throws {
        guard times >= 1 else {
            throw PoolError.invalidArgument("MockScript.\(caller): times must be at least 1, got \(times)")
        }
        add(matcher, answer, remaining: times)
    }

    private func add(_ matcher: MockStatementMatcher, _ answer: Answer, remaining: Int?) {
        state.withLock { $0.rules.append(Rule(matcher: matcher, answer: answer, remaining: remaining)) }
    }

    /// Logs `statement` and returns its rows, or throws its scripted failure.
    func answer(_ statement: MockStatement) throws -> (columns: [String], rows: [[SQLValue]]) {
        let answer = state.withLock { state -> Answer? in
            state.statements.append(statement)
            guard
                let index = state.rules.lastIndex(where: { rule in
                    rule.remaining != 0 && rule.matcher.matches(statement)
                })
            else { return nil }
            if let remaining = state.rules[index].remaining { state.rules[index].remaining = remaining - 1 }
            return state.rules[index].answer
        }
        switch answer {
        case nil where unscripted == .fail:
            throw MockError("unscripted statement: \(statement.sql)")
        case nil:
            return ([], [])
        case let .rows(columns, rows)?:
            return (columns, rows)
        case .failure(.disconnect)?:
            throw MockDisconnectError("Lost the DB connection on \(statement.sql)")
        case .failure(.error)?:
            throw MockError("statement failed: \(statement.sql)")
        case let .error(error)?:
            throw error
        }
    }

    /// Records `statement` without consulting the rules (it failed before reaching the database).
    func log(_ statement: MockStatement) {
        state.withLock { $0.statements.append(statement) }
    }
}
