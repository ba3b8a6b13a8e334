// The code blocks of the Deploying Behind PgBouncer and Through a Failover article.

import DBPool
import DBPoolPostgres
import XCTest

final class DeploymentSnippetTests: XCTestCase {
    /// Compiled, not run: it needs two PostgreSQL servers.
    func failoverPool() throws -> QueuePool<PostgresConnection> {
        // snippet: deployment-failover
        let url = "host=db1,db2 port=5432,5432 dbname=app user=app target_session_attrs=read-write connect_timeout=2"
        let pool = try QueuePool(poolSize: 4, maxOverflow: 4, timeout: .seconds(1),
                                 dialect: PostgresDialect()) { try PostgresConnection(url: url) }
        // end snippet
        return pool
    }
}
