import DBPool
import DBPoolTesting
import Foundation
import XCTest

/// The example ``UserRepository`` under statement chaos from several threads at once: the commit
/// book still matches what the callers were told, and the driver's books balance.
final class ChaosRepositoryConcurrencyTests: XCTestCase {
    func testConcurrentRenamesUnderStatementChaosCommitExactlyTheSuccesses() throws {
        var faults = ChaosConfiguration.statementFaults
        faults.statementDelay = .microseconds(50)
        let chaos = ChaosDBAPI(seed: 7, configuration: faults, script: MockScript())
        let pool = try QueuePool(
            poolSize: 2, maxOverflow: 1, timeout: .seconds(5), dialect: ChaosDialect(),
            creator: chaos.creator())
        let users = UserRepository(pool: pool, isDisconnect: { ChaosDialect().isDisconnect($0, connection: nil) })
        let succeeded = Guarded<[Int64]>([])
        let unexpected = Guarded<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for index in 0..<50 {
                let id = Int64(worker * 1000 + index)
                do {
                    try users.rename(id, to: "user \(id)")
                    succeeded.withLock { $0.append(id) }
                } catch is ChaosError {
                } catch is ChaosDisconnectError {
                } catch {
                    unexpected.withLock { $0.append("\(error)") }
                }
            }
        }
        XCTAssertEqual(unexpected.withLock { $0 }, [], chaos.failureMessage)
        let committed = chaos.committedTransactions
        XCTAssertTrue(committed.allSatisfy { $0.map(\.sql).first == "BEGIN" && $0.count == 4 }, chaos.failureMessage)
        let committedIDs = committed.compactMap { $0.count == 4 ? $0[1].parameters[1].int64 : nil }
        XCTAssertEqual(committedIDs.count, Set(committedIDs).count, "no rename committed twice; \(chaos.failureMessage)")
        XCTAssertEqual(Set(committedIDs), Set(succeeded.withLock { $0 }), chaos.failureMessage)
        XCTAssertTrue(
            committed.allSatisfy { Set($0.map(\.connectionID)).count == 1 },
            "a transaction ran on one connection; \(chaos.failureMessage)")
        XCTAssertLessThanOrEqual(chaos.peakOpenCount, 3, chaos.failureMessage)
        pool.dispose()
        XCTAssertEqual(chaos.problems(expectOpen: 0), [], chaos.failureMessage)
    }
}
