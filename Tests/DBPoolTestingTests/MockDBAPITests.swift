import DBPool
import DBPoolTesting
import Dispatch
import Foundation
import XCTest

final class MockDBAPITests: XCTestCase {
    func testEachConnectReturnsANewConnectionAndRecordsArguments() throws {
        let dbapi = MockDBAPI()
        let a = try dbapi.connect("foo.db")
        let b = try dbapi.connect("foo.db", "ro")
        XCTAssertNotIdentical(a, b)
        XCTAssertLessThan(a.id, b.id)
        XCTAssertEqual(dbapi.connectCalls, [["foo.db"], ["foo.db", "ro"]])
        XCTAssertEqual(dbapi.connectCount, 2)
        XCTAssertEqual(dbapi.connections.map(\.id), [a.id, b.id])
        try a.close()
        XCTAssertEqual(dbapi.openConnections.map(\.id), [b.id])
    }

    func testCreator() throws {
        let dbapi = MockDBAPI()
        let create = dbapi.creator("foo.db")
        let conn = try create()
        XCTAssertEqual(dbapi.connectCalls, [["foo.db"]])
        XCTAssertIdentical(dbapi.connections.first, conn)
        _ = try dbapi.creator()()
        XCTAssertEqual(dbapi.connectCalls, [["foo.db"], []])
    }

    func testShutdown() throws {
        let dbapi = MockDBAPI()
        XCTAssertFalse(dbapi.isShutdown)
        let before = try dbapi.connect("foo.db")
        dbapi.shutdown(true)
        XCTAssertTrue(dbapi.isShutdown)
        XCTAssertThrowsError(try dbapi.connect("foo.db")) {
            XCTAssertEqual($0 as? MockError, MockError("connect failed"))
        }
        XCTAssertFalse(before.closed, "shutdown leaves existing connections alone")
        XCTAssertEqual(dbapi.connectCount, 2)
        XCTAssertEqual(dbapi.connectCalls.count, 2)
        dbapi.shutdown(false)
        XCTAssertFalse(dbapi.isShutdown)
        XCTAssertEqual(dbapi.connectCalls, [], "shutdown(false) starts the history afresh")
        XCTAssertEqual(dbapi.connectCount, 2, "connectCount is never reset")
        _ = try dbapi.connect("bar.db")
        XCTAssertEqual(dbapi.connectCalls, [["bar.db"]])
        XCTAssertEqual(dbapi.connections.count, 2)
    }

    func testFailNextConnects() throws {
        struct Custom: Error, Equatable {}
        let dbapi = MockDBAPI()
        dbapi.failNextConnects(2)
        dbapi.failNextConnects(1, with: Custom())
        XCTAssertThrowsError(try dbapi.connect()) { XCTAssertEqual($0 as? MockError, MockError("connect failed")) }
        XCTAssertThrowsError(try dbapi.connect()) { XCTAssertEqual($0 as? MockError, MockError("connect failed")) }
        XCTAssertThrowsError(try dbapi.connect()) { XCTAssertEqual($0 as? Custom, Custom()) }
        XCTAssertNoThrow(try dbapi.connect())
        XCTAssertEqual(dbapi.connectCount, 4)
        XCTAssertEqual(dbapi.connections.count, 1)
    }

    func testDropAllDropsOnlyOpenConnections() throws {
        let dbapi = MockDBAPI()
        let a = try dbapi.connect(), b = try dbapi.connect()
        try a.close()
        dbapi.dropAll()
        XCTAssertFalse(a.isDropped)
        XCTAssertTrue(b.isDropped)
        XCTAssertThrowsError(try b.rollback()) { XCTAssertTrue($0 is MockDisconnectError) }
        let c = try dbapi.connect()
        XCTAssertFalse(c.isDropped, "new connections after a restart work")
    }

    func testConnectDelayOverlapsAcrossThreads() throws {
        let dbapi = MockDBAPI()
        let delay = Duration.milliseconds(30)
        dbapi.connectDelay = delay
        let clock = ContinuousClock()
        let start = clock.now
        // Real threads, so the overlap does not depend on how a thread pool schedules work. Eight
        // of them: taken under a lock, their delays would add up to 240 ms, which leaves a wide
        // margin over the 30 ms they take side by side, while the test costs only one delay.
        let threads = 8
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<threads {
            Thread.detachNewThread {
                _ = try? dbapi.connect()
                done.signal()
            }
        }
        for _ in 0..<threads { done.wait() }
        let elapsed = clock.now - start
        XCTAssertEqual(dbapi.connections.count, threads)
        XCTAssertGreaterThanOrEqual(elapsed, delay)
        XCTAssertLessThan(elapsed, delay * threads, "the delay must not be taken under a lock")
        dbapi.connectDelay = nil
        XCTAssertNil(dbapi.connectDelay)
    }

    func testBeforeConnectCanFailAConnect() throws {
        struct Refused: Error {}
        let dbapi = MockDBAPI()
        dbapi.beforeConnect = { args in
            if args == ["bad"] { throw Refused() }
        }
        XCTAssertThrowsError(try dbapi.connect("bad")) { XCTAssertTrue($0 is Refused) }
        XCTAssertNoThrow(try dbapi.connect("good"))
        XCTAssertEqual(dbapi.connectCalls, [["bad"], ["good"]])
        XCTAssertEqual(dbapi.connections.count, 1)
    }

    func testBeforeConnectCanHoldAConnectOpen() {
        let dbapi = MockDBAPI()
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        dbapi.beforeConnect = { args in
            if args == ["slow"] {
                entered.signal()
                release.wait()
            }
        }
        Thread.detachNewThread {
            _ = try? dbapi.connect("slow")
            finished.signal()
        }
        entered.wait()
        XCTAssertNoThrow(try dbapi.connect("fast"), "a held connect must not block others")
        XCTAssertEqual(dbapi.connections.count, 1)
        release.signal()
        finished.wait()
        XCTAssertEqual(dbapi.connections.count, 2)
        XCTAssertEqual(dbapi.connectCalls, [["slow"], ["fast"]])
    }

    func testConcurrentConnectsAllRecorded() {
        let dbapi = MockDBAPI()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<50 { _ = try? dbapi.connect("x") }
        }
        XCTAssertEqual(dbapi.connectCount, 400)
        XCTAssertEqual(dbapi.connections.count, 400)
        XCTAssertEqual(Set(dbapi.connections.map(\.id)).count, 400)
        XCTAssertEqual(dbapi.connections.map(\.id), dbapi.connections.map(\.id).sorted())
    }
}
