import DBPool
import DBPoolTesting
import Foundation
import Synchronization
import XCTest

/// Two threads closing one fairy at once. Misuse ("one holder at a time"), but the
/// docs promise that a second close() does nothing, so exactly one of the two must return the
/// connection and the other must do nothing: no crash, no second reset or checkin, no record
/// returned twice. Run under TSan too: the loser of the race may touch only the atomic counter.
final class ConcurrentCloseTests: XCTestCase {
    /// What the driver thread and the two closing threads share.
    private final class Race: Sendable {
        let slot = Mutex<ConnectionFairy<MockConnection>?>(nil)
        /// The round whose fairy is in `slot`.
        let round = Atomic<Int>(0)
        /// Closers that have taken this round's fairy and are about to close it.
        let arrived = Atomic<Int>(0)
        /// Closers that have closed it and let go of it.
        let finished = Atomic<Int>(0)
        let violations = Mutex<[String]>([])

        func note(_ violation: String) { violations.withLock { $0.append(violation) } }
    }

    private static let rounds = 10_000

    func testTwoThreadsClosingOneFairyAtOnceReturnItOnce() throws {
        let dbapi = MockDBAPI()
        let recorder = EventRecorder()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, timeout: .milliseconds(50),
            options: PoolOptions(logHandler: .disabled), dialect: MockDialect(), creator: dbapi.creator())
        recorder.attach(to: pool.events)
        let race = Race()
        let rounds = Self.rounds

        let finished = Harness.onThreads(3) { role in
            if role == 0 {
                Self.drive(pool, race, rounds: rounds)
            } else {
                Self.close(race, rounds: rounds)
            }
        }
        XCTAssertTrue(finished, "a thread did not finish")
        XCTAssertEqual(race.violations.withLock { $0 }, [])
        XCTAssertEqual(recorder.count(.checkin), rounds, "one checkin per checkout")
        XCTAssertEqual(recorder.count(.reset), rounds, "one reset per checkout")
        XCTAssertEqual(dbapi.connections.count, 1)
        XCTAssertEqual(dbapi.connections.first?.calls.filter { $0 == "rollback()" }.count, rounds)
        XCTAssertEqual(pool.checkedIn, 1)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(pool.statistics.checkouts, rounds)
    }

    /// Checks a fairy out, hands it to both closers, and after both are done checks that the
    /// pool took the record back exactly once.
    private static func drive(_ pool: QueuePool<MockConnection>, _ race: Race, rounds: Int) {
        for round in 1...rounds {
            let fairy: ConnectionFairy<MockConnection>
            do {
                fairy = try pool.connect()
            } catch {
                race.note("round \(round): checkout failed: \(error)")
                // Still publish the round, so that the closers do not wait forever.
                race.round.store(round, ordering: .releasing)
                continue
            }
            race.slot.withLock { $0 = fairy }
            race.round.store(round, ordering: .releasing)
            while race.finished.load(ordering: .acquiring) < 2 * round { sched_yield() }
            race.slot.withLock { $0 = nil }
            if fairy.isValid || fairy.record != nil {
                race.note("round \(round): the fairy is still open after two closes")
            }
            if pool.checkedIn != 1 || pool.checkedOut != 0 {
                race.note("round \(round): checkedIn \(pool.checkedIn), checkedOut \(pool.checkedOut)")
            }
        }
    }

    /// Takes each round's fairy, waits until the other closer has it too, then closes it.
    private static func close(_ race: Race, rounds: Int) {
        for round in 1...rounds {
            while race.round.load(ordering: .acquiring) < round { sched_yield() }
            do {
                let fairy = race.slot.withLock { $0 }
                let last = race.arrived.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == 2 * round
                // A short busy wait lines the two closes up; past it, yield the core.
                var spins = 0
                while race.arrived.load(ordering: .acquiring) < 2 * round {
                    spins += 1
                    if spins > 2_000 { sched_yield() }
                }
                // The two see the second arrival at different moments; a delay of one of them that
                // sweeps over the rounds makes the two closes overlap in some of them.
                let sweep = round % 64
                if last == (sweep < 32) {
                    for _ in 0..<(sweep % 32) * 4 { _ = race.arrived.load(ordering: .relaxed) }
                }
                fairy?.close()
            }
            race.finished.wrappingAdd(1, ordering: .releasing)
        }
    }
}
