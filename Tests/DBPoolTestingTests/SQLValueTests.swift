import DBPool
import XCTest

/// ``SQLValue`` and ``SQLRow``: literals, accessors and display forms.
final class SQLValueTests: XCTestCase {
    func testLiteralsBuildTheExpectedCases() {
        let values: [SQLValue] = [.null, 1, 2.5, "x", true]
        XCTAssertEqual(values, [.null, .integer(1), .double(2.5), .text("x"), .bool(true)])
        XCTAssertEqual(SQLValue(Optional<Int>.none), .null)
        XCTAssertEqual(SQLValue(Int?(3)), .integer(3))
        XCTAssertEqual(SQLValue(String?("s")), .text("s"))
        XCTAssertEqual(SQLValue([UInt8]?([1])), .bytes([1]))
        XCTAssertEqual(SQLValue(Bool?(false)), .bool(false))
        XCTAssertEqual(SQLValue(Double?(1.5)), .double(1.5))
    }

    func testAccessorsReadOnlyMatchingKinds() {
        XCTAssertEqual(SQLValue.integer(5).int64, 5)
        XCTAssertEqual(SQLValue.bool(true).int64, 1)
        XCTAssertNil(SQLValue.text("5").int64, "no parsing of text")
        XCTAssertEqual(SQLValue.integer(2).double, 2.0)
        XCTAssertNil(SQLValue.null.double)
        XCTAssertEqual(SQLValue.text("a").string, "a")
        XCTAssertNil(SQLValue.integer(1).string)
        XCTAssertEqual(SQLValue.bytes([9]).bytes, [9])
        XCTAssertEqual(SQLValue.integer(0).bool, false)
        XCTAssertEqual(SQLValue.integer(1).bool, true)
        XCTAssertNil(SQLValue.integer(2).bool, "only 0 and 1 read as booleans")
        XCTAssertTrue(SQLValue.null.isNull)
        XCTAssertFalse(SQLValue.text("").isNull)
    }

    func testDescriptionsAndKinds() {
        XCTAssertEqual(SQLValue.text("it's").description, "'it''s'")
        XCTAssertEqual(SQLValue.bytes([0x0F, 0xA0]).description, "x'0fa0'")
        XCTAssertEqual(SQLValue.null.description, "NULL")
        XCTAssertEqual([SQLValue.null, 1, 1.5, "t", .bytes([]), false].map(\.kind), ["null", "integer", "double", "text", "bytes", "bool"])
    }

    func testRowLookups() {
        let row = SQLRow(columns: ["id", "name", "id"], values: [1, "a", 2])
        XCTAssertEqual(row[1], "a")
        XCTAssertEqual(row["id"], 1, "the first column of that name")
        XCTAssertNil(row["nope"])
        XCTAssertNil(row.value(at: 3))
        XCTAssertEqual(row.value(at: 0), 1)
        XCTAssertEqual(row.count, 3)
        XCTAssertEqual(row.description, "(id: 1, name: 'a', id: 2)")
        XCTAssertEqual(SQLRow(values: [1]).description, "(1)")
        XCTAssertNil(SQLRow(columns: ["a", "b"], values: [1])["b"], "a name without a value finds nothing")
    }
}
