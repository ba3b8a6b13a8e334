import XCTest
import DBPoolDemoSupport

/// Every password form libpq accepts is hidden in what the demo prints.
final class RedactionTests: XCTestCase {
    private func assertRedacted(_ conninfo: String, _ expected: String, hiding secret: String, file: StaticString = #filePath, line: UInt = #line) {
        let redacted = ConnectionStringRedaction.redact(conninfo)
        XCTAssertEqual(redacted, expected, file: file, line: line)
        XCTAssertFalse(redacted.contains(secret), "\(redacted) shows \(secret)", file: file, line: line)
        XCTAssertTrue(ConnectionStringRedaction.passwords(in: conninfo).contains(secret), "passwords(in:) misses \(secret)", file: file, line: line)
    }

    func testURIUserInfoPasswordIsHidden() {
        assertRedacted("postgresql://u:s3cret@host:5432/db", "postgresql://u:***@host:5432/db", hiding: "s3cret")
        assertRedacted("postgres://u:s3cret@h1,h2/db?sslmode=require", "postgres://u:***@h1,h2/db?sslmode=require", hiding: "s3cret")
        // An "@" in the query belongs to the query, not to the user info.
        assertRedacted("postgresql://u:s3cret@host/db?application_name=a@b", "postgresql://u:***@host/db?application_name=a@b", hiding: "s3cret")
        XCTAssertEqual(ConnectionStringRedaction.redact("postgresql://u@host/db"), "postgresql://u@host/db")
    }

    func testURIPasswordQueryParameterIsHidden() {
        assertRedacted(
            "postgresql://127.0.0.1:5432/postgres?user=u&password=s3cret",
            "postgresql://127.0.0.1:5432/postgres?user=u&password=***", hiding: "s3cret")
        assertRedacted("postgresql:///db?password=s3cret&sslmode=disable", "postgresql:///db?password=***&sslmode=disable", hiding: "s3cret")
        // Percent-encoded: the key as libpq decodes it, and the value both as written and decoded.
        assertRedacted("postgresql://h/db?pass%77ord=s3%63ret", "postgresql://h/db?pass%77ord=***", hiding: "s3%63ret")
        XCTAssertTrue(ConnectionStringRedaction.passwords(in: "postgresql://h/db?password=s3%63ret").contains("s3cret"))
    }

    func testKeywordPasswordIsHiddenWithOrWithoutSpacesAndQuotes() {
        assertRedacted("host=h password=s3cret dbname=d", "host=h password=*** dbname=d", hiding: "s3cret")
        assertRedacted("host=h password = s3cret dbname=d", "host=h password = *** dbname=d", hiding: "s3cret")
        assertRedacted("password='a b' host=h", "password='***' host=h", hiding: "a b")
        assertRedacted(#"password='it\'s' host=h"#, "password='***' host=h", hiding: #"it's"#)
        assertRedacted(#"host=h password=a\ b"#, "host=h password=***", hiding: "a b")
        assertRedacted("host=h\tpassword=\n s3cret", "host=h\tpassword=\n ***", hiding: "s3cret")
        XCTAssertEqual(ConnectionStringRedaction.redact("host=h dbname=d"), "host=h dbname=d")
    }

    func testADbnameThatIsAConnectionStringIsRedactedToo() {
        assertRedacted("dbname='host=h password=s3cret' user=u", #"dbname='host=h password=***' user=u"#, hiding: "s3cret")
        assertRedacted("dbname=postgresql://u:s3cret@h/db", "dbname=postgresql://u:***@h/db", hiding: "s3cret")
    }

    func testAnUnparsableKeywordStringIsHiddenWhole() {
        for broken in ["host=h password='s3cret", "host=h s3cret", "password"] {
            XCTAssertEqual(ConnectionStringRedaction.redact(broken), ConnectionStringRedaction.unparsable, broken)
        }
    }

    func testScrubHidesEverySecretInAnErrorMessage() {
        let secrets = ConnectionStringRedaction.passwords(in: "postgresql://u:s3cr%zzet@h/db")
        XCTAssertEqual(
            ConnectionStringRedaction.scrub(#"invalid percent-encoded token: "s3cr%zzet""#, secrets: secrets),
            #"invalid percent-encoded token: "***""#)
        XCTAssertEqual(ConnectionStringRedaction.scrub("no secret here", secrets: []), "no secret here")
    }
}
