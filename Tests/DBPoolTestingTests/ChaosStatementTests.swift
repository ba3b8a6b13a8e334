import DBPool
import DBPoolTesting
import XCTest

/// ``ChaosDBAPI``'s statement faults, per-fault seeds, scripted answers and the commit ledger.
final class ChaosStatementTests: XCTestCase {
    private func connection(
        _ configure: (inout ChaosConfiguration) throws -> Void, seed: UInt64 = 1,
        script: MockScript? = MockScript()
    ) throws -> (ChaosDBAPI, ChaosConnection) {
        var faults = ChaosConfiguration()
        try configure(&faults)
        let chaos = ChaosDBAPI(seed: seed, configuration: faults, script: script)
        return (chaos, try chaos.connect())
    }

    func testNoStatementFaultsByDefault() throws {
        let (_, conn) = try connection { _ in }
        for index in 0..<100 { try conn.execute("UPDATE t SET v = ?", [.integer(Int64(index))]) }
        XCTAssertFalse(conn.isDropped)
    }

    func testStatementErrorLeavesTheConnectionUsable() throws {
        let (chaos, conn) = try connection { $0.statementErrors = .always }
        XCTAssertThrowsError(try conn.execute("UPDATE t SET v = 1")) { error in
            XCTAssertEqual(error as? ChaosError, ChaosError("statement failed on #1: UPDATE t SET v = 1"))
            XCTAssertFalse(ChaosDialect().isDisconnect(error, connection: conn))
        }
        XCTAssertFalse(conn.isDropped)
        XCTAssertEqual(chaos.script?.statements.map(\.sql), ["UPDATE t SET v = 1"], "a failed statement is still logged")
        XCTAssertEqual(chaos.committedTransactions, [], "it did not run")
    }

    func testStatementDisconnectDropsTheConnection() throws {
        let (_, conn) = try connection { $0.statementDisconnects = .always }
        XCTAssertThrowsError(try conn.query("SELECT 1", [])) { error in
            XCTAssertEqual(error as? ChaosDisconnectError, ChaosDisconnectError("connection #1 lost on SELECT 1"))
            XCTAssertTrue(ChaosDialect().isDisconnect(error, connection: conn))
        }
        XCTAssertTrue(conn.isDropped)
        XCTAssertThrowsError(try conn.rollback()) { XCTAssertTrue($0 is ChaosDisconnectError) }
    }

    func testMidTransactionDisconnectHitsOnlyStatementsInsideATransaction() throws {
        let (chaos, conn) = try connection { $0.midTransactionDisconnects = .always }
        try conn.execute("INSERT INTO t VALUES (1)")
        try conn.execute("BEGIN")
        XCTAssertThrowsError(try conn.execute("INSERT INTO t VALUES (?)", [2])) {
            XCTAssertEqual($0 as? ChaosDisconnectError, ChaosDisconnectError("connection #1 lost mid-transaction on INSERT INTO t VALUES (?)"))
        }
        XCTAssertTrue(conn.isDropped)
        XCTAssertEqual(
            chaos.committedTransactions.map { $0.map(\.sql) }, [["INSERT INTO t VALUES (1)"]],
            "the autocommitted statement stays; the transaction is lost")
    }

    func testDisconnectAfterStatementLetsThatStatementTakeEffect() throws {
        let (chaos, conn) = try connection { $0.disconnectsAfterStatement = .always }
        try conn.execute("INSERT INTO t VALUES (?)", [1])
        XCTAssertTrue(conn.isDropped)
        XCTAssertThrowsError(try conn.execute("INSERT INTO t VALUES (?)", [2])) {
            XCTAssertEqual($0 as? ChaosDisconnectError, ChaosDisconnectError("connection #1 lost on execute"))
        }
        XCTAssertEqual(chaos.committedTransactions.map { $0.map(\.parameters) }, [[[1]]])
    }

    func testSlowStatementSleeps() throws {
        let (_, conn) = try connection {
            $0.slowStatements = .always
            $0.statementDelay = .milliseconds(20)
        }
        let clock = ContinuousClock()
        let start = clock.now
        try conn.execute("SELECT 1")
        XCTAssertGreaterThanOrEqual(clock.now - start, .milliseconds(20))
    }

    func testTransactionsAreBookedByStatementTextAndByCommitAndRollback() throws {
        let (chaos, conn) = try connection { _ in }
        try conn.execute("BEGIN")
        try conn.execute("UPDATE a", [1])
        try conn.execute("COMMIT")
        try conn.execute("START TRANSACTION")
        try conn.execute("UPDATE b")
        try conn.execute("ROLLBACK TO SAVEPOINT s")
        try conn.commit()
        try conn.execute("begin")
        try conn.execute("UPDATE c")
        try conn.rollback()
        try conn.execute("BEGIN")
        try conn.execute("UPDATE d")
        try conn.execute("ROLLBACK")
        XCTAssertEqual(
            chaos.committedTransactions.map { $0.map(\.sql) },
            [
                ["BEGIN", "UPDATE a", "COMMIT"],
                ["START TRANSACTION", "UPDATE b", "ROLLBACK TO SAVEPOINT s"]
            ])
    }

    func testWithoutAScriptNothingIsLogged() throws {
        let (chaos, conn) = try connection({ _ in }, script: nil)
        try conn.execute("INSERT INTO t VALUES (1)")
        XCTAssertEqual(try conn.query("SELECT 1"), [])
        XCTAssertNil(chaos.script)
        XCTAssertEqual(chaos.committedTransactions, [])
    }

    func testScriptAnswersQueriesTheFaultsLetThrough() throws {
        let script = MockScript()
        script.respond(to: .prefix("SELECT name"), columns: ["name"], rows: [["alice"]])
        script.failOnce(.prefix("DELETE"), with: .disconnect)
        let (_, conn) = try connection({ _ in }, script: script)
        XCTAssertEqual(try conn.queryRows("SELECT name FROM users", []).first?["name"], "alice")
        XCTAssertEqual(try conn.query("SELECT name FROM users"), [["alice"]])
        XCTAssertThrowsError(try conn.execute("DELETE FROM users")) { XCTAssertTrue($0 is MockDisconnectError) }
    }

    /// The fault pattern of one fault over 64 statements, as a bit string.
    private func pattern(seed: UInt64, rate: ChaosRate) throws -> String {
        let (_, conn) = try connection({ $0.statementErrors = rate }, seed: seed, script: nil)
        return try (0..<64).map { _ -> String in
            do { try conn.execute("SELECT 1"); return "." } catch is ChaosError { return "x" }
        }.joined()
    }

    func testSameSeedSamePatternAndRatesCanCarryTheirOwnSeed() throws {
        let half = try ChaosRate(1, in: 2)
        XCTAssertEqual(try pattern(seed: 1, rate: half), try pattern(seed: 1, rate: half), "replays from its seed")
        XCTAssertNotEqual(try pattern(seed: 1, rate: half), try pattern(seed: 2, rate: half))
        let own = try ChaosRate(1, in: 2, seed: 77)
        XCTAssertEqual(
            try pattern(seed: 1, rate: own), try pattern(seed: 2, rate: own),
            "a rate with its own seed ignores the driver's")
        XCTAssertNotEqual(try pattern(seed: 1, rate: own), try pattern(seed: 1, rate: try ChaosRate(1, in: 2, seed: 78)))
        XCTAssertEqual(own.description, "1/2 seed 77")
    }

    func testFaultsAreIndependentStreams() throws {
        // Turning a second fault on must not move the first one's pattern.
        let (_, alone) = try connection({ $0.statementErrors = try ChaosRate(1, in: 3) }, seed: 9, script: nil)
        let (_, mixed) = try connection(
            {
                $0.statementErrors = try ChaosRate(1, in: 3)
                $0.slowStatements = try ChaosRate(1, in: 2)
                $0.statementDelay = .zero
            }, seed: 9, script: nil)
        for _ in 0..<64 {
            let a = (try? alone.execute("x")) != nil
            let b = (try? mixed.execute("x")) != nil
            XCTAssertEqual(a, b)
        }
    }

    func testBadRateIsAClearError() {
        XCTAssertThrowsError(try ChaosRate(1, in: 0)) {
            XCTAssertEqual("\($0)", "\(PoolError.invalidArgument("ChaosRate: n must be 1 or more, got 0"))")
        }
        XCTAssertThrowsError(try ChaosRate(-1, in: 5)) {
            XCTAssertEqual("\($0)", "\(PoolError.invalidArgument("ChaosRate: k must be 0 or more, got -1"))")
        }
        XCTAssertEqual(try ChaosRate(7, in: 3).description, "7/3", "k above n is allowed and means always")
        XCTAssertFalse(ChaosRate.always.isNever)
        XCTAssertTrue(ChaosRate.never.isNever)
    }

    func testStatementFaultsPresetAndDescription() {
        let preset = ChaosConfiguration.statementFaults
        XCTAssertFalse(preset.statementErrors.isNever)
        XCTAssertFalse(preset.midTransactionDisconnects.isNever)
        XCTAssertTrue(preset.connectFailures.isNever, "connects, pings and resets work")
        XCTAssertTrue(preset.description.contains("midTransactionDisconnects: 1/10"), preset.description)
    }
}
