import DBPool
import DBPoolTesting
import Foundation
import XCTest

/// A connection's lifetime limits beyond recycle: recycleJitter spreads the ages at which
/// connections are recycled, and maxUsage recycles one after that many checkouts. (recycle itself:
/// RecordTests.)
final class ConnectionLifetimeTests: XCTestCase {
    /// With recycleJitter, each connection draws its own age limit between (1 - jitter) × recycle
    /// and recycle, so connections made together do not all expire together.
    func testRecycleJitterSpreadsExpiry() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        let pool = try lifecyclePool(20, dbapi: dbapi, clock: clock) {
            $0.recycle = .seconds(100); $0.recycleJitter = 0.5
        }
        let first = try (0..<20).map { _ in try pool.connect() }
        first.forEach { $0.close() }
        clock.advance(by: .seconds(75))  // between the shortest (50 s) and the full (100 s) age
        let second = try (0..<20).map { _ in try pool.connect() }
        second.forEach { $0.close() }
        let recycled = dbapi.connections.count - 20
        XCTAssertGreaterThan(recycled, 0, "some connections drew an age under 75 s")
        XCTAssertLessThan(recycled, 20, "and some over it: they do not all expire together")
        XCTAssertEqual(pool.statistics.closes[.recycledByAge], recycled)
    }

    /// A connection made for a checkout is used by that checkout, even when the connect took
    /// longer than `recycle`, so a slow connect is not followed by a second one (SQLAlchemy
    /// would make a new record's connection again here; a listed difference). The first
    /// checkout makes a new record; the second reconnects a recycled one. The connect moves the
    /// clock past `recycle` while it runs.
    func testAConnectionMadeForACheckoutIsNotRecycledByThatCheckout() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        dbapi.beforeConnect = { _ in clock.advance(by: .seconds(20)) }
        let pool = try lifecyclePool(1, dbapi: dbapi, clock: clock) { $0.recycle = .seconds(10) }
        try pool.connect().close()
        XCTAssertEqual(dbapi.connections.count, 1, "a new record: one connect")
        XCTAssertEqual(pool.statistics.closes[.recycledByAge, default: 0], 0)
        try pool.connect().close()
        XCTAssertEqual(dbapi.connections.count, 2, "a record past its age: one reconnect")
        XCTAssertEqual(pool.statistics.closes[.recycledByAge], 1)
    }

    /// The same for the pool kinds that make their record at checkout.
    func testSimplePoolKindsUseTheConnectionTheyJustMadeForTheCheckout() throws {
        let dbapi = MockDBAPI()
        let clock = ManualClock()
        dbapi.beforeConnect = { _ in clock.advance(by: .seconds(20)) }
        let options = PoolOptions(recycle: .seconds(10), clock: clock, logHandler: .disabled)
        let pools: [any Pool<MockConnection>] = [
            try NullPool(options: options, dialect: MockDialect(), creator: dbapi.creator()),
            try StaticPool(options: options, dialect: MockDialect(), creator: dbapi.creator()),
            try AssertionPool(options: options, dialect: MockDialect(), creator: dbapi.creator()),
            try SingletonThreadPool(options: options, dialect: MockDialect(), creator: dbapi.creator())
        ]
        for pool in pools {
            let before = dbapi.connections.count
            try pool.connect().close()
            XCTAssertEqual(dbapi.connections.count, before + 1, "\(type(of: pool)): one connect for one checkout")
        }
    }

    /// maxUsage recycles a connection after that many checkouts, counted as a maxUsage close and
    /// not as an invalidation.
    func testMaxUsageRecyclesAfterNCheckouts() throws {
        let dbapi = MockDBAPI()
        let pool = try lifecyclePool(1, dbapi: dbapi) { $0.maxUsage = 3 }
        let recorder = EventRecorder()
        recorder.attach(to: pool.events)
        var ids: [Int] = []
        for _ in 0..<7 {
            let fairy = try pool.connect()
            ids.append(fairy.dbapiConnection!.id)
            fairy.close()
        }
        XCTAssertEqual(Set(ids[0..<3]).count, 1)
        XCTAssertEqual(Set(ids[3..<6]).count, 1)
        XCTAssertNotEqual(ids[2], ids[3])
        XCTAssertNotEqual(ids[5], ids[6])
        XCTAssertEqual(dbapi.connections.count, 3)
        XCTAssertEqual(pool.statistics.closes[.maxUsage], 2)
        XCTAssertEqual(recorder.count(.invalidate), 0, "a usage recycle is not an invalidation")
    }
}
