// The code blocks of the Async Drivers article, over a stand-in async driver.

import DBPool
import XCTest



final class AsyncDriverSnippetTests: XCTestCase {
    /// A stand-in for an async driver's connection (nested, so it shadows the blocking
    /// `MyConnection` of the other snippets), so that the article's code compiles and runs.
    final class MyConnection: Sendable {
        static func open() async throws -> MyConnection { MyConnection() }
        func execute(_ sql: String) async throws {}
        func query(_ sql: String) async throws -> [String] { [sql] }
        func close() async throws {}
    }

    struct MyConnectionLost: Error {}

    func testAsyncDriverPool() async throws {
        // snippet: async-driver
        //! import DBPool

        struct MyDialect: AsyncDialect {
            func doRollback(_ c: MyConnection) async throws { try await c.execute("ROLLBACK") }
            func doCommit(_ c: MyConnection) async throws { try await c.execute("COMMIT") }
            func doClose(_ c: MyConnection) async throws { try await c.close() }
            func doPing(_ c: MyConnection) async throws -> Bool { try await c.execute("SELECT 1"); return true }
            func isDisconnect(_ error: any Error, connection: MyConnection?) -> Bool { error is MyConnectionLost }
        }

        let pool = try await QueuePool(poolSize: 10, dialect: MyDialect()) { try await MyConnection.open() }
        let rows = try await pool.withConnection { try await $0.connection.query("SELECT ...") }
        // end snippet
        XCTAssertEqual(rows, ["SELECT ..."])
    }
}
