@testable import DBPoolPostgres
import XCTest

/// The `$N` scan that checks the parameter count before a statement is sent. No server needed.
final class PostgresPlaceholderTests: XCTestCase {
    func testCountsHighestPlaceholder() {
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT 1"), 0)
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT $1, $2"), 2)
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT $3 WHERE x = $1"), 3)
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT $12::int8"), 12)
    }

    func testIgnoresPlaceholdersInsideLiteralsIdentifiersAndComments() {
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT '$1', 'it''s $2', $1"), 1)
        XCTAssertEqual(PostgresPlaceholders.highest(in: #"SELECT E'\' $5', $1"#), 1)
        XCTAssertEqual(PostgresPlaceholders.highest(in: #"SELECT "col $4", "a""$3", $2"#), 2)
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT $1 -- and $9\n, $2"), 2)
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT /* $7 /* nested $8 */ still $9 */ $1"), 1)
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT $$ $4 $$, $tag$ $5 $x$ $tag$, $1"), 1)
    }

    func testDollarInsideIdentifierIsNotAPlaceholder() {
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT a$1 FROM t"), 0)
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT x FROM t WHERE a=$1"), 1)
    }

    func testUnterminatedConstructsDoNotCrash() {
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT '$1"), 0)
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT $$ $1"), 0)
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT /* $1"), 0)
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT $"), 0)
        XCTAssertEqual(PostgresPlaceholders.highest(in: "SELECT $99999999999999999999"), 1_000_000)
    }
}
