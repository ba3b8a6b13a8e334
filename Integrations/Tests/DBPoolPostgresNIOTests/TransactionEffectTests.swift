@testable import DBPoolPostgresNIO
import XCTest

/// How ``PooledPostgresConnection`` judges whether a statement opens or ends a transaction, from
/// its first keyword: the pool rolls back on return only when one may be open, so a statement
/// judged wrongly either costs a round trip or, worse, leaves a transaction open in the pool.
final class TransactionEffectTests: XCTestCase {
    func testStatementsThatOpenATransaction() {
        for sql in [
            "BEGIN", "begin", "BEGIN ISOLATION LEVEL SERIALIZABLE", "start transaction", "  \n\tBegin;",
            "-- note\nBEGIN", "/* note */ BEGIN", ";BEGIN", "COMMIT AND CHAIN", "rollback and chain",
            "ROLLBACK TO SAVEPOINT a", "rollback to a"
        ] {
            XCTAssertEqual(TransactionEffect(of: sql), .opens, sql)
        }
    }

    func testStatementsThatEndATransaction() {
        for sql in ["COMMIT", "commit;", "END", "ROLLBACK", "abort", "/* c */ -- d\n  Rollback", "ROLLBACK PREPARED 'x'"] {
            XCTAssertEqual(TransactionEffect(of: sql), .ends, sql)
        }
    }

    func testStatementsThatDoNeither() {
        for sql in [
            "SELECT 1", "", "   ", "-- only a comment", "/* unterminated BEGIN", "BEGINNING", "COMMITTED",
            "SELECT 'BEGIN'", "UPDATE t SET a = 1", "ÉBEGIN", "1 BEGIN", "WITH x AS (SELECT 1) SELECT * FROM x"
        ] {
            XCTAssertEqual(TransactionEffect(of: sql), .none, sql)
        }
    }
}
