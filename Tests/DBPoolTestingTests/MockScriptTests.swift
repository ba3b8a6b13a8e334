import DBPool
import DBPoolTesting
import Foundation
import XCTest

/// ``MockScript``: scripted rows and failures, the statement log, and the unscripted default.
final class MockScriptTests: XCTestCase {
    func testUnscriptedDefaultSucceedsWithNoRows() throws {
        let conn = MockConnection()
        try conn.execute("INSERT INTO t VALUES (?)", [1])
        XCTAssertEqual(try conn.query("SELECT * FROM t"), [])
        XCTAssertEqual(try conn.queryRows("SELECT * FROM t", []), [])
        XCTAssertEqual(conn.script.unscripted, .succeed)
    }

    func testStrictScriptFailsUnscriptedStatements() throws {
        let conn = MockConnection(script: MockScript(unscripted: .fail))
        XCTAssertThrowsError(try conn.execute("DELETE FROM t")) {
            XCTAssertEqual($0 as? MockError, MockError("unscripted statement: DELETE FROM t"))
        }
        conn.script.respond(to: .exact("DELETE FROM t"), rows: [])
        XCTAssertNoThrow(try conn.execute("DELETE FROM t"))
    }

    func testRowsByExactPrefixAndPredicate() throws {
        let script = MockScript()
        script.respond(to: .exact("SELECT name FROM users WHERE id = ?"), columns: ["name"], rows: [["alice"]])
        script.respond(to: .prefix("SELECT count(*)"), rows: [[3]])
        script.respond(to: .matching { $0.parameters.first == 99 }, columns: ["id", "name"], rows: [[99, .null]])
        let conn = MockConnection(script: script)

        let alice = try conn.queryRows("SELECT name FROM users WHERE id = ?", [1])
        XCTAssertEqual(alice, [SQLRow(columns: ["name"], values: ["alice"])])
        XCTAssertEqual(alice.first?["name"]?.string, "alice")
        XCTAssertEqual(try conn.query("SELECT count(*) FROM users"), [["3"]])
        XCTAssertEqual(try conn.queryRows("SELECT anything", [99]).first?.values, [.integer(99), .null])
        XCTAssertEqual(try conn.query("SELECT name FROM users WHERE id = ? ", [1]), [], "exact means exact: a trailing blank misses")
    }

    func testTextFormOfScriptedValues() throws {
        let conn = MockConnection()
        conn.script.respond(to: .any, rows: [[.null, 7, 2.5, "x", .bytes([104, 105]), true]])
        XCTAssertEqual(try conn.query("SELECT"), [[nil, "7", "2.5", "x", "hi", "true"]])
    }

    func testNewestMatchingRuleWinsAndUsedUpRulesStepAside() throws {
        let conn = MockConnection()
        conn.script.respond(to: .prefix("SELECT"), rows: [["broad"]])
        try conn.script.respond(to: .exact("SELECT 1"), rows: [["narrow"]], times: 2)
        XCTAssertEqual(try conn.query("SELECT 1"), [["narrow"]])
        XCTAssertEqual(conn.script.pendingRules, ["exact(\"SELECT 1\")"])
        XCTAssertEqual(try conn.query("SELECT 1"), [["narrow"]])
        XCTAssertEqual(try conn.query("SELECT 1"), [["broad"]])
        XCTAssertEqual(conn.script.pendingRules, [])
    }

    func testFailOnceAsDisconnectThenSucceeds() throws {
        let conn = MockConnection()
        conn.script.failOnce(.prefix("UPDATE"), with: .disconnect)
        XCTAssertThrowsError(try conn.execute("UPDATE users SET name = ?", ["bob"])) { error in
            XCTAssertEqual(error as? MockDisconnectError, MockDisconnectError("Lost the DB connection on UPDATE users SET name = ?"))
            XCTAssertTrue(MockDialect().isDisconnect(error, connection: conn))
        }
        XCTAssertNoThrow(try conn.execute("UPDATE users SET name = ?", ["bob"]))
    }

    func testFailNTimesAsErrorThenSucceeds() throws {
        let conn = MockConnection()
        try conn.script.fail(.exact("COMMIT"), with: .error, times: 2)
        for _ in 0..<2 {
            XCTAssertThrowsError(try conn.execute("COMMIT")) { error in
                XCTAssertEqual(error as? MockError, MockError("statement failed: COMMIT"))
                XCTAssertFalse(MockDialect().isDisconnect(error, connection: conn))
            }
        }
        XCTAssertNoThrow(try conn.execute("COMMIT"))
    }

    func testFailAlwaysAndCustomError() throws {
        struct UniqueViolation: Error, Equatable {}
        let conn = MockConnection()
        conn.script.fail(.prefix("INSERT"), throwing: UniqueViolation())
        conn.script.fail(.prefix("DELETE"), with: .error)
        for _ in 0..<3 {
            XCTAssertThrowsError(try conn.execute("INSERT INTO u VALUES (?)", [1])) { XCTAssertEqual($0 as? UniqueViolation, UniqueViolation()) }
            XCTAssertThrowsError(try conn.execute("DELETE FROM u")) { XCTAssertTrue($0 is MockError) }
        }
        try conn.script.fail(.prefix("DROP"), throwing: UniqueViolation(), times: 1)
        XCTAssertThrowsError(try conn.execute("DROP TABLE u"))
        XCTAssertNoThrow(try conn.execute("DROP TABLE u"))
    }

    func testBadTimesIsAClearError() {
        let script = MockScript()
        XCTAssertThrowsError(try script.fail(.any, with: .error, times: 0)) {
            XCTAssertEqual("\($0)", "\(PoolError.invalidArgument("MockScript.fail(_:with:times:): times must be at least 1, got 0"))")
        }
        XCTAssertThrowsError(try script.respond(to: .any, rows: [], times: -1)) {
            XCTAssertEqual("\($0)", "\(PoolError.invalidArgument("MockScript.respond(to:columns:rows:times:): times must be at least 1, got -1"))")
        }
        XCTAssertThrowsError(try script.fail(.any, throwing: MockError("x"), times: 0))
        XCTAssertEqual(script.pendingRules, [], "a rejected rule is not added")
    }

    func testStatementsAreRecordedInOrderWithParametersAcrossConnections() throws {
        let dbapi = MockDBAPI()
        dbapi.script.failOnce(.exact("B"), with: .error)
        let first = try dbapi.connect()
        let second = try dbapi.connect()
        try first.execute("A", [1, "x"])
        XCTAssertThrowsError(try second.execute("B"))
        _ = try first.queryRows("C", [.null])
        XCTAssertEqual(
            dbapi.script.statements,
            [
                MockStatement(kind: .execute, sql: "A", parameters: [1, "x"], connectionID: first.id),
                MockStatement(kind: .execute, sql: "B", connectionID: second.id),
                MockStatement(kind: .query, sql: "C", parameters: [.null], connectionID: first.id)
            ])
        XCTAssertEqual(first.statements.map(\.sql), ["A", "C"])
        XCTAssertEqual(first.calls, ["execute(A)", "query(C)"], "calls keep their old shape")
        XCTAssertEqual(dbapi.script.statements[0].description, "execute(A) [1, 'x']")
        dbapi.script.removeAllStatements()
        XCTAssertEqual(dbapi.script.statements, [])
    }

    func testSwitchesActBeforeTheScriptAndAreStillLogged() throws {
        let conn = MockConnection()
        conn.script.respond(to: .any, rows: [[1]])
        conn.failExecute = .error
        XCTAssertThrowsError(try conn.query("SELECT 1")) {
            XCTAssertEqual($0 as? MockError, MockError("something broke on query but we didn't lose the connection"))
        }
        conn.failExecute = nil
        conn.drop()
        XCTAssertThrowsError(try conn.queryRows("SELECT 1", [])) {
            XCTAssertEqual($0 as? MockDisconnectError, MockDisconnectError("Lost the DB connection on query"))
        }
        XCTAssertEqual(conn.script.statements.count, 2)
    }

    func testRemoveAllRules() throws {
        let conn = MockConnection()
        conn.script.fail(.any, with: .error)
        conn.script.removeAllRules()
        XCTAssertNoThrow(try conn.execute("X"))
    }

    func testScriptIsSafeFromManyThreads() throws {
        let dbapi = MockDBAPI()
        try dbapi.script.fail(.exact("fail"), with: .error, times: 50)
        let connections = try (0..<4).map { _ in try dbapi.connect() }
        let failures = Guarded(0)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for index in 0..<100 {
                do { try connections[worker].execute("fail", [.integer(Int64(index))]) } catch { failures.withLock { $0 += 1 } }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, 50, "exactly `times` failures, however the threads interleave")
        XCTAssertEqual(dbapi.script.statements.count, 400)
        for connection in connections {
            XCTAssertEqual(connection.statements.map(\.parameters), (0..<100).map { [.integer(Int64($0))] }, "each connection's log is in its order")
        }
    }
}
