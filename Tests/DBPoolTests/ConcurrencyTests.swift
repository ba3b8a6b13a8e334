import XCTest
import Foundation
import DBPool
import DBPoolTesting

/// Real threads, bounded loops, invariants rather than timings.
final class ConcurrencyTests: XCTestCase {
    /// The thread sanitizer slows these loops about twenty-fold; scripts/test sets DBPOOL_TSAN
    /// for that run so that the same interleavings are explored in a tenth of the cycles.
    private static let divisor = ProcessInfo.processInfo.environment["DBPOOL_TSAN"] == nil ? 1 : 10

    /// Tracks which driver connections are held right now, and the most ever open at once.
    final class Ledger: Sendable {
        private let held = Guarded<Set<Int>>([])
        let violations = Guarded<[String]>([])
        func take(_ id: Int) {
            if !held.update({ $0.insert(id).inserted }) {
                violations.update { $0.append("connection \(id) handed to two holders at once") }
            }
        }
        func give(_ id: Int) { held.update { _ = $0.remove(id) } }
    }

    // 16 threads x 2,000 cycles over QueuePool(4, 2): no connection is held twice, the limit holds,
    // and the counters come to rest.
    func testSixteenThreadsOverQueuePool() throws {
        let dbapi = MockDBAPI()
        let pool = try QueuePool(
            poolSize: 4, maxOverflow: 2, timeout: .seconds(30), options: quietOptions,
            dialect: MockDialect(), creator: dbapi.creator())
        let ledger = Ledger()
        let maxOpen = Guarded(0)
        pool.events.onCheckout { _, _, _ in
            let open = dbapi.openConnections.count
            maxOpen.update { $0 = max($0, open) }
        }
        let finished = Harness.onThreads(16) { thread in
            for cycle in 0..<(2_000 / Self.divisor) {
                guard let fairy = try? pool.connect(), let id = fairy.dbapiConnection?.id else {
                    ledger.violations.update { $0.append("checkout failed") }
                    continue
                }
                ledger.take(id)
                if (thread + cycle) % 97 == 0 {
                    ledger.give(id)
                    fairy.invalidate()
                } else {
                    ledger.give(id)
                    fairy.close()
                }
            }
        }
        XCTAssertTrue(finished)
        XCTAssertEqual(ledger.violations.value, [])
        XCTAssertLessThanOrEqual(maxOpen.value, 6, "never more than size + overflow connections")
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(pool.waiting, 0)
        XCTAssertLessThanOrEqual(pool.checkedIn, 4)
        // Every connection ever created is either closed or sitting idle in the pool.
        XCTAssertEqual(dbapi.openConnections.count, pool.checkedIn)
        XCTAssertTrue(dbapi.connections.allSatisfy { $0.closeCount <= 1 }, "no connection closed twice")
    }

    // The hard limit must hold while connections are being closed too (overflow discards).
    func testDriverConnectionsNeverExceedTheLimit() throws {
        let dbapi = MockDBAPI()
        let limitBreaches = Guarded(0)
        let pool = try QueuePool(
            poolSize: 2, maxOverflow: 2, timeout: .seconds(30), options: quietOptions,
            dialect: MockDialect(),
            creator: {
                if dbapi.openConnections.count >= 4 { limitBreaches.update { $0 += 1 } }
                return try dbapi.connect()
            })
        XCTAssertTrue(
            Harness.onThreads(8) { _ in
                for _ in 0..<(1_000 / Self.divisor) { try? pool.connect().close() }
            })
        XCTAssertEqual(limitBreaches.value, 0)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(dbapi.openConnections.count, pool.checkedIn)
    }

    func testOtherPoolKindsUnderThreads() throws {
        let dbapi = MockDBAPI()
        let null = try NullPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        let staticPool = try StaticPool(options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        let singleton = try SingletonThreadPool(poolSize: 8, options: quietOptions, dialect: MockDialect(), creator: dbapi.creator())
        let singletonIDs = Guarded<[Int: Set<Int>]>([:])
        XCTAssertTrue(
            Harness.onThreads(8) { thread in
                for _ in 0..<(300 / Self.divisor) {
                    try? null.connect().close()
                    try? staticPool.connect().close()
                    if let f = try? singleton.connect(), let id = f.dbapiConnection?.id {
                        singletonIDs.update { $0[thread, default: []].insert(id) }
                        f.close()
                    }
                }
            })
        let perThread = singletonIDs.value
        XCTAssertEqual(perThread.count, 8)
        XCTAssertTrue(perThread.values.allSatisfy { $0.count == 1 }, "each thread keeps its own connection")
        XCTAssertEqual(Set(perThread.values.flatMap { $0 }).count, 8, "no two threads share one")
        staticPool.dispose()
        singleton.dispose()
        XCTAssertEqual(dbapi.openConnections.count, 0, "NullPool closed each; the others closed on dispose")
    }

    func testAssertionPoolAllowsOneHolderUnderThreads() throws {
        let pool = try AssertionPool(options: quietOptions, dialect: MockDialect(), creator: MockDBAPI().creator())
        let holders = Guarded(0)
        let overlap = Guarded(false)
        XCTAssertTrue(
            Harness.onThreads(4) { _ in
                for _ in 0..<(500 / Self.divisor) {
                    guard let f = try? pool.connect() else { continue }
                    if holders.update({
                        $0 += 1; return $0
                    }) > 1 {
                        overlap.update { $0 = true }
                    }
                    holders.update { $0 -= 1 }
                    f.close()
                }
            })
        XCTAssertFalse(overlap.value)
    }
}
