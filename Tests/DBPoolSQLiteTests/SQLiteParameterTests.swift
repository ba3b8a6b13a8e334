import CSQLite3
import DBPool
import DBPoolSQLite
import XCTest

/// Bound parameters, typed rows and NUL rejection in ``SQLiteConnection``.
final class SQLiteParameterTests: XCTestCase {
    private func memory() throws -> SQLiteConnection {
        try SQLiteConnection(path: ":memory:")
    }

    func testEveryValueKindRoundTripsTyped() throws {
        let conn = try memory()
        try conn.execute("CREATE TABLE t (i, d, s, b, f, n)")
        try conn.execute(
            "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
            [.integer(Int64.min), 2.5, "é'\"\u{0}x", .bytes([0, 255, 1]), true, .null])
        let rows = try conn.queryRows("SELECT i, d, s, b, f, n FROM t")
        XCTAssertEqual(rows.count, 1)
        let row = try XCTUnwrap(rows.first)
        XCTAssertEqual(row.columns, ["i", "d", "s", "b", "f", "n"])
        XCTAssertEqual(row[0].int64, Int64.min)
        XCTAssertEqual(row[1].double, 2.5)
        XCTAssertEqual(row[2].string, "é'\"\u{0}x", "text binds with its length, so an embedded NUL survives")
        XCTAssertEqual(row[3].bytes, [0, 255, 1])
        XCTAssertEqual(row["f"]?.bool, true, "a bool is stored as 1 and read back as true")
        XCTAssertEqual(row[4], .integer(1))
        XCTAssertTrue(row[5].isNull)
        XCTAssertNil(row["missing"])
    }

    func testEmptyTextAndBytesAreNotNull() throws {
        let conn = try memory()
        let row = try XCTUnwrap(conn.queryRows("SELECT ?, ?, typeof(?2)", ["", .bytes([])]).first)
        XCTAssertEqual(row.values, [.text(""), .bytes([]), .text("blob")])
    }

    func testTextRowsWithParametersMatchPlainQuery() throws {
        let conn = try memory()
        XCTAssertEqual(try conn.query("SELECT ?, ?, ?, ?", [1, 2.5, "x", .null]), [["1", "2.5", "x", nil]])
        XCTAssertEqual(try conn.query("SELECT 1, 2.5, 'x', NULL"), [["1", "2.5", "x", nil]])
    }

    func testNumberedPlaceholders() throws {
        let conn = try memory()
        XCTAssertEqual(try conn.query("SELECT ?2, ?1, ?2", ["a", "b"]), [["b", "a", "b"]])
    }

    func testInjectionAttemptIsStoredAsTextAndTableSurvives() throws {
        let conn = try memory()
        try conn.execute("CREATE TABLE x (name TEXT)")
        let hostile = "'); DROP TABLE x; --"
        try conn.execute("INSERT INTO x (name) VALUES (?)", [.text(hostile)])
        XCTAssertEqual(try conn.query("SELECT name FROM x WHERE name = ?", [.text(hostile)]), [[hostile]])
        XCTAssertEqual(try conn.query("SELECT count(*) FROM sqlite_master WHERE name = 'x'"), [["1"]])
    }

    func testTooFewParametersNamesBothCounts() throws {
        let conn = try memory()
        let error = expectSQLiteError { try conn.execute("SELECT ?, ?", [1]) }
        XCTAssertEqual(error?.code, SQLITE_RANGE)
        XCTAssertEqual(error?.message, "wrong number of parameters: the statement has 2 placeholder positions (?1…?2), got 1 value")
    }

    func testTooManyParametersNamesBothCounts() throws {
        let conn = try memory()
        let error = expectSQLiteError { _ = try conn.queryRows("SELECT ?", [1, 2]) }
        XCTAssertEqual(error?.message, "wrong number of parameters: the statement has 1 placeholder (?1), got 2 values")
        let none = expectSQLiteError { _ = try conn.query("SELECT 1", [1]) }
        XCTAssertEqual(none?.message, "wrong number of parameters: the statement has no placeholders, got 1 value")
    }

    func testTypeTheTableRejectsNamesTheBoundKinds() throws {
        let conn = try memory()
        try conn.execute("CREATE TABLE s (n INTEGER) STRICT")
        let error = expectSQLiteError { try conn.execute("INSERT INTO s (n) VALUES (?)", ["not a number"]) }
        XCTAssertEqual(error?.code, SQLITE_CONSTRAINT)
        XCTAssertEqual(error?.message.hasPrefix("cannot store TEXT value in INTEGER column s.n"), true, error?.message ?? "")
        XCTAssertEqual(error?.message.hasSuffix("(bound: ?1 text)"), true, error?.message ?? "")
        XCTAssertEqual(error?.message.contains("not a number"), false, "the value itself is not repeated")
    }

    func testMoreThanOneStatementWithParametersIsRejected() throws {
        let conn = try memory()
        try conn.execute("CREATE TABLE m (v)")
        let error = expectSQLiteError { try conn.execute("INSERT INTO m VALUES (?); DELETE FROM m", [1]) }
        XCTAssertEqual(error?.code, SQLITE_MISUSE)
        XCTAssertEqual(error?.message.hasPrefix("the SQL text holds more than one statement"), true)
        XCTAssertEqual(try conn.query("SELECT count(*) FROM m"), [["0"]], "nothing ran")
        try conn.execute("INSERT INTO m VALUES (?); -- trailing comment\n", [1])
        XCTAssertEqual(try conn.query("SELECT count(*) FROM m"), [["1"]])
    }

    func testNULInSQLIsRejectedEverywhere() throws {
        let conn = try memory()
        try conn.execute("CREATE TABLE z (v)")
        let sql = "INSERT INTO z VALUES (1)\u{0}; DROP TABLE z"
        let message = "SQL text contains a NUL byte at UTF-8 offset 24; SQL must not contain NUL (bind such a value as a parameter instead)"
        XCTAssertEqual(expectSQLiteError { try conn.execute(sql) }?.message, message)
        XCTAssertEqual(expectSQLiteError { _ = try conn.query(sql) }?.message, message)
        XCTAssertEqual(expectSQLiteError { try conn.execute(sql, []) }?.message, message)
        XCTAssertEqual(expectSQLiteError { _ = try conn.queryRows(sql) }?.code, SQLITE_MISUSE)
        XCTAssertEqual(try conn.query("SELECT count(*) FROM z"), [["0"]], "no part of it ran")
    }

    func testNULInPathIsRejected() throws {
        let error = expectSQLiteError { _ = try SQLiteConnection(path: "/tmp/a\u{0}b.db") }
        XCTAssertEqual(error?.code, SQLITE_MISUSE)
        XCTAssertEqual(error?.message, "path contains a NUL byte at UTF-8 offset 6; a SQLite path must not contain NUL")
    }

    func testParameterisedStatementOnClosedConnectionIsADisconnect() throws {
        let conn = try memory()
        try conn.close()
        let error = expectSQLiteError { try conn.execute("SELECT ?", [1]) }
        XCTAssertEqual(error?.connectionClosed, true)
        XCTAssertTrue(SQLiteDialect().isDisconnect(try XCTUnwrap(error), connection: conn))
    }

    func testWorksThroughThePoolAsAnSQLExecutor() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dbpool-params-\(UUID().uuidString).db").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let pool = try QueuePool(poolSize: 1, maxOverflow: 0, dialect: SQLiteDialect()) { try SQLiteConnection(path: path) }
        defer { pool.dispose() }
        func names<C: SQLExecutor>(_ connection: C, above id: Int64) throws -> [String] {
            try connection.queryRows("SELECT name FROM u WHERE id > ? ORDER BY id", [.integer(id)]).compactMap { $0[0].string }
        }
        try pool.withConnection { fairy in
            let conn = fairy.dbapiConnection!
            try conn.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT)")
            for (id, name) in [(1, "a"), (2, "b"), (3, "c")] {
                try conn.execute("INSERT INTO u VALUES (?, ?)", [SQLValue(id), SQLValue(name)])
            }
            XCTAssertEqual(try names(conn, above: 1), ["b", "c"])
        }
    }
}
