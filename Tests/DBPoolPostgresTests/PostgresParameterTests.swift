import DBPool
import DBPoolPostgres
import XCTest

/// Bound parameters, typed rows and NUL rejection in ``PostgresConnection``, against a real server.
final class PostgresParameterTests: XCTestCase {
    private func connect() throws -> PostgresConnection {
        try PostgresConnection(url: try postgresURL())
    }

    private func postgresError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> PostgresError? {
        do {
            try body()
            XCTFail("expected a PostgresError, nothing was thrown", file: file, line: line)
        } catch let error as PostgresError {
            return error
        } catch {
            XCTFail("expected a PostgresError, got \(type(of: error)): \(error)", file: file, line: line)
        }
        return nil
    }

    func testEveryValueKindRoundTripsTyped() throws {
        let conn = try connect()
        defer { try? conn.close() }
        try conn.execute("CREATE TEMP TABLE t (i int8, d float8, s text, b bytea, f bool, n int4, e bytea)")
        try conn.execute(
            "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [.integer(Int64.min), 2.5, "é'\"\\x", .bytes([0, 255, 1]), true, .null, .bytes([])])
        let row = try XCTUnwrap(conn.queryRows("SELECT i, d, s, b, f, n, e FROM t").first)
        XCTAssertEqual(row.columns, ["i", "d", "s", "b", "f", "n", "e"])
        XCTAssertEqual(
            row.values,
            [
                .integer(Int64.min), .double(2.5), .text("é'\"\\x"), .bytes([0, 255, 1]),
                .bool(true), .null, .bytes([])
            ])
        XCTAssertEqual(try conn.query("SELECT f, i FROM t", []), [["t", String(Int64.min)]], "text rows keep the server's form")
    }

    func testSpecialDoublesAndInferredTypes() throws {
        let conn = try connect()
        defer { try? conn.close() }
        let row = try XCTUnwrap(
            conn.queryRows(
                "SELECT $1::float8, $2::float8, $3, $4::int4 + 1, $5::numeric",
                [.double(.infinity), .double(-.infinity), "plain", "41", "1.10"]
            ).first)
        XCTAssertEqual(row[0], .double(.infinity))
        XCTAssertEqual(row[1], .double(-.infinity))
        XCTAssertEqual(row[2], .text("plain"), "an untyped text parameter is inferred as text")
        XCTAssertEqual(row[3], .integer(42), "text is converted to the type the statement needs")
        XCTAssertEqual(row[4], .text("1.10"), "numeric keeps its precision as text")
        let nan = try XCTUnwrap(conn.queryRows("SELECT $1::float8", [.double(.nan)]).first)
        XCTAssertEqual(nan[0].double?.isNaN, true)
    }

    func testEmptyTextAndBytesAreNotNull() throws {
        let conn = try connect()
        defer { try? conn.close() }
        let row = try XCTUnwrap(conn.queryRows("SELECT $1::text, $2::bytea, $1 IS NULL", ["", .bytes([])]).first)
        XCTAssertEqual(row.values, [.text(""), .bytes([]), .bool(false)])
    }

    func testInjectionAttemptIsStoredAsTextAndTableSurvives() throws {
        let conn = try connect()
        defer { try? conn.close() }
        try conn.execute("CREATE TEMP TABLE x (name text)")
        let hostile = "'); DROP TABLE x; --"
        try conn.execute("INSERT INTO x (name) VALUES ($1)", [.text(hostile)])
        XCTAssertEqual(try conn.query("SELECT name FROM x WHERE name = $1", [.text(hostile)]), [[hostile]])
        XCTAssertEqual(try conn.query("SELECT count(*) FROM x"), [["1"]], "the table is still there")
    }

    func testWrongParameterCountIsAClientErrorNotADisconnect() throws {
        let conn = try connect()
        defer { try? conn.close() }
        let few = postgresError { try conn.execute("SELECT $1::int8, $2::int8", [1]) }
        XCTAssertNil(few?.sqlState)
        XCTAssertEqual(few?.message, "wrong number of parameters: the statement needs 2 parameters ($1…$2), got 1 value")
        XCTAssertFalse(PostgresDialect().isDisconnect(try XCTUnwrap(few), connection: conn))
        let many = postgresError { _ = try conn.query("SELECT 1", [1, 2]) }
        XCTAssertEqual(many?.message, "wrong number of parameters: the statement needs no parameters, got 2 values")
        XCTAssertEqual(try conn.query("SELECT 1"), [["1"]], "the session is still usable")
    }

    func testTypeTheServerRejectsNamesTheBoundKinds() throws {
        let conn = try connect()
        defer { try? conn.close() }
        try conn.execute("CREATE TEMP TABLE n (v int4)")
        let error = postgresError { try conn.execute("INSERT INTO n (v) VALUES ($1)", [true]) }
        XCTAssertEqual(error?.sqlState, "42804", "datatype_mismatch")
        XCTAssertEqual(error?.message.hasSuffix("(bound: $1 bool)"), true, error?.message ?? "")
        let syntax = postgresError { try conn.execute("INSERT INTO n (v) VALUES ($1)", ["secret-ish"]) }
        XCTAssertEqual(syntax?.sqlState, "22P02", "invalid_text_representation")
        XCTAssertEqual(syntax?.message.hasSuffix("(bound: $1 text)"), true, syntax?.message ?? "")
    }

    func testTextWithNULIsRejectedNamingThePosition() throws {
        let conn = try connect()
        defer { try? conn.close() }
        let error = postgresError { _ = try conn.query("SELECT $1, $2", ["ok", "a\u{0}b"]) }
        XCTAssertNil(error?.sqlState)
        XCTAssertEqual(error?.message, "parameter $2: text contains a NUL byte at UTF-8 offset 1, which PostgreSQL text cannot hold; send it as .bytes")
        XCTAssertEqual(try conn.queryRows("SELECT $1::bytea", [.bytes([97, 0, 98])]).first?[0], .bytes([97, 0, 98]))
    }

    func testNULInSQLIsRejectedEverywhere() throws {
        let conn = try connect()
        defer { try? conn.close() }
        try conn.execute("CREATE TEMP TABLE z (v int4)")
        let sql = "INSERT INTO z VALUES (1)\u{0}; DROP TABLE z"
        let message = "SQL text contains a NUL byte at UTF-8 offset 24; SQL must not contain NUL (bind such a value as a .bytes parameter instead)"
        XCTAssertEqual(postgresError { try conn.execute(sql) }?.message, message)
        XCTAssertEqual(postgresError { _ = try conn.query(sql) }?.message, message)
        XCTAssertEqual(postgresError { try conn.execute(sql, []) }?.message, message)
        XCTAssertNil(postgresError { _ = try conn.queryRows(sql) }?.sqlState)
        XCTAssertEqual(try conn.query("SELECT count(*) FROM z"), [["0"]], "no part of it ran")
    }

    func testNULInConnectionStringIsRejectedBeforeConnecting() throws {
        let url = try postgresURL()
        let error = postgresError { _ = try PostgresConnection(url: url + "\u{0}junk") }
        XCTAssertNil(error?.sqlState)
        XCTAssertEqual(error?.message.hasPrefix("the connection string contains a NUL byte at UTF-8 offset \(url.utf8.count)"), true)
    }

    func testParameterisedStatementOnClosedConnectionIsADisconnect() throws {
        let conn = try connect()
        try conn.close()
        let error = postgresError { try conn.execute("SELECT $1::int8", [1]) }
        XCTAssertEqual(error?.sqlState, PostgresError.connectionDoesNotExist)
    }
}
