// DBPoolTesting: test doubles for code that uses DBPool.
//
// Link this library from a test target (`.testTarget(..., dependencies: ["DBPool", "DBPoolTesting"])`)
// to test pool behaviour, or your own code built on a pool, without a database:
//
// - `MockDBAPI`: a fake driver. `connect(...)` hands out a new `MockConnection` per call and
//   records its arguments; `shutdown(true)`, `failNextConnects(_:)`, `connectDelay` and
//   `beforeConnect` make connects fail, slow or block; `dropAll()` simulates a database restart.
// - `MockConnection`: a fake connection that records every call (`"rollback()"`, `"commit()"`,
//   `"close()"`, `"cursor()"`, ...) and can be switched to fail rollback, commit, close, execute
//   or ping, as a disconnect (`MockDisconnectError`) or as an ordinary error (`MockError`). It
//   runs statements with bound values (`SQLExecutor`), answered by its `MockScript`.
// - `MockScript`: the answers `MockConnection`s give to statements (shared by every connection of
//   a `MockDBAPI` as `dbapi.script`): rows by exact text, prefix or predicate; failures as a
//   disconnect, an error or your own error, once, N times or always; and a log of every statement
//   with its values. Unscripted statements succeed with no rows (or throw, with `.fail`).
// - `ChaosDBAPI` / `ChaosConnection` / `ChaosDialect`: seeded faults at connect, ping, reset,
//   close, and at the statements your code runs (`ChaosConfiguration.statementFaults`), with a
//   book of committed transactions to compare your code's reported successes against.
// - `MockDialect`: the `Dialect` for `MockConnection`, with a ping and `isDisconnect`; it can log
//   `"R"`, `"C"`, `"CL"`, `"T"`, `"P"` to a shared `MockCallLog`.
// - `ManualClock`: a `PoolClock` that moves only when the test calls `advance(by:)`, for recycle
//   and timestamp tests without sleeping.
// - `EventRecorder`: attaches to `pool.events` and records the event sequence with details.
//
// Everything here is thread-safe and `Sendable`, so it can be shared with the threads or tasks a
// test starts.
//
// A typical XCTest:
//
//     import DBPool
//     import DBPoolTesting
//     import XCTest
//
//     final class CheckoutTests: XCTestCase {
//         func testReturnRollsBackAndRecycles() throws {
//             let dbapi = MockDBAPI()
//             let clock = ManualClock()
//             let log = MockCallLog()
//             let pool = try QueuePool(
//                 poolSize: 2, maxOverflow: 0,
//                 options: PoolOptions(recycle: .seconds(60), clock: clock),
//                 dialect: MockDialect(log: log),
//                 creator: dbapi.creator("foo.db"))
//             let recorder = EventRecorder()
//             recorder.attach(to: pool.events)
//
//             let fairy = try pool.connect()
//             let conn = try XCTUnwrap(fairy.dbapiConnection)
//             fairy.close()
//             XCTAssertEqual(conn.calls, ["rollback()"])        // reset on return
//             XCTAssertEqual(log.entries, ["R"])
//             XCTAssertEqual(recorder.names, ["first_connect", "connect", "checkout", "reset", "checkin"])
//
//             clock.advance(by: .seconds(61))                   // older than `recycle`
//             let again = try pool.connect()
//             XCTAssertTrue(conn.closed)                        // replaced at checkout
//             XCTAssertNotEqual(again.dbapiConnection?.id, conn.id)
//             again.close()
//
//             pool.dispose()
//             XCTAssertEqual(dbapi.openConnections.count, 0)    // nothing leaked
//         }
//     }
//
// Failure scenarios use the switches:
//
//     conn.failRollback = .disconnect       // the next return invalidates the connection
//     dbapi.dropAll()                       // with `prePing: true`, the next checkout reconnects
//     dbapi.shutdown(true)                  // new connections fail with MockError("connect failed")
//
// The mocks follow the ones in SQLAlchemy's own pool tests (test_pool.py and test_reconnect.py),
// so tests ported from there keep their expected call lists and error messages.
//
// Testing your own repositories and services: see the article TestingYourCode.md in
// DBPoolTesting.docc.
