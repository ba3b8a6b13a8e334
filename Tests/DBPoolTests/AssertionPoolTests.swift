import XCTest
import DBPool
import DBPoolTesting
import Synchronization

/// AssertionPool: at most one checkout at a time over one lazily created record.
final class AssertionPoolTests: XCTestCase {
    // A second checkout while one is out throws alreadyCheckedOut naming the first
    // connect() call site.
    func testSecondCheckoutThrowsWithFirstCallSite() throws {
        let dbapi = MockDBAPI()
        let pool = try AssertionPool(dialect: MockDialect(), creator: dbapi.creator())
        let first = try pool.connect(); let firstLine = #line

        XCTAssertThrowsError(try pool.connect()) { error in
            guard case let .alreadyCheckedOut(location)? = error as? PoolError else {
                return XCTFail("expected PoolError.alreadyCheckedOut, got \(error)")
            }
            guard let location else { return XCTFail("the location must be stored by default") }
            XCTAssertTrue(location.hasSuffix("AssertionPoolTests.swift:\(firstLine)"), location)
            XCTAssertEqual((error as? PoolError)?.description, "connection is already checked out at:\n\(location)")
        }
        XCTAssertTrue(first.isValid, "the failed second checkout must not disturb the first")
        XCTAssertEqual(dbapi.connectCount, 1)
        first.close()
        let again = try pool.connect()
        again.close()
    }

    // The location is that of the checkout currently out, not of an earlier one.
    func testLocationNamesTheCurrentCheckout() throws {
        let pool = try AssertionPool(dialect: MockDialect(), creator: MockDBAPI().creator())
        let earlier = try pool.connect(); let earlierLine = #line
        earlier.close()
        let current = try pool.connect(); let currentLine = #line
        defer { current.close() }
        XCTAssertNotEqual(earlierLine, currentLine)
        XCTAssertThrowsError(try pool.connect()) { error in
            guard case let .alreadyCheckedOut(location?)? = error as? PoolError else {
                return XCTFail("expected PoolError.alreadyCheckedOut with a location, got \(error)")
            }
            XCTAssertTrue(location.hasSuffix("AssertionPoolTests.swift:\(currentLine)"), location)
        }
    }

    // With storeCheckoutLocation false there is no location and the message is bare.
    func testWithoutStoredLocationMessageIsBare() throws {
        let pool = try AssertionPool(storeCheckoutLocation: false, dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertFalse(pool.storeCheckoutLocation)
        let first = try pool.connect()
        defer { first.close() }
        XCTAssertThrowsError(try pool.connect()) { error in
            guard case let .alreadyCheckedOut(location)? = error as? PoolError else {
                return XCTFail("expected PoolError.alreadyCheckedOut, got \(error)")
            }
            XCTAssertNil(location)
            XCTAssertEqual((error as? PoolError)?.description, "connection is already checked out")
        }
    }

    // withConnection inside withConnection is the same kind of violation.
    func testNestedWithConnectionThrows() throws {
        let pool = try AssertionPool(dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertThrowsError(
            try pool.withConnection { _ in
                try pool.withConnection { _ in XCTFail("the inner body must not run") }
            }
        ) { error in
            guard case .alreadyCheckedOut? = error as? PoolError else {
                return XCTFail("expected PoolError.alreadyCheckedOut, got \(error)")
            }
        }
        // The outer withConnection returned its connection, so the pool is usable again.
        XCTAssertNoThrow(try pool.withConnection { _ in })
    }

    // Sequential checkout/close cycles work indefinitely over one connection.
    func testSequentialCyclesWorkIndefinitely() throws {
        let dbapi = MockDBAPI()
        let pool = try AssertionPool(dialect: MockDialect(), creator: dbapi.creator())
        for i in 0..<100 {
            let fairy = try pool.connect()
            XCTAssertTrue(fairy.isValid, "cycle \(i)")
            fairy.close()
        }
        XCTAssertEqual(dbapi.connectCount, 1)
        XCTAssertEqual(dbapi.connections[0].calls.count, 100)
        XCTAssertEqual(Set(dbapi.connections[0].calls), ["rollback()"])
    }

    // dispose clears the flag and closes the connection; the record reconnects on the next
    // checkout. The dialect sees ["R", "CL", "R"].
    func testDisposeClosesAndRecordReconnects() throws {
        let dbapi = MockDBAPI()
        let log = MockCallLog()
        let pool = try AssertionPool(dialect: MockDialect(log: log), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.close, .connect])

        let first = try pool.connect()
        let oldConn = try XCTUnwrap(first.dbapiConnection)
        let record = try XCTUnwrap(first.record)
        first.close()
        pool.dispose()
        XCTAssertTrue(oldConn.closed)
        XCTAssertEqual(recorder.events(.close).map(\.connectionID), [oldConn.id])

        let second = try pool.connect()
        XCTAssertNotEqual(second.dbapiConnection?.id, oldConn.id)
        XCTAssertTrue(second.record === record, "AssertionPool keeps its record across dispose")
        second.close()
        XCTAssertEqual(log.entries, ["R", "CL", "R"])
        XCTAssertEqual(recorder.count(.connect), 2)
    }

    // A fairy out during dispose frees the pool (the flag is cleared and the connection closed);
    // closing it afterwards reports PoolError.notCheckedOut through the log handler, as an
    // error-level "Return to an AssertionPool with nothing checked out", and nothing crashes.
    func testFairyOutDuringDisposeClosedAfterwardsLogsNotCheckedOut() throws {
        let dbapi = MockDBAPI()
        let messages = Mutex<[PoolLogMessage]>([])
        let handler = PoolLogHandler(level: .debug) { message in messages.withLock { $0.append(message) } }
        let pool = try AssertionPool(options: PoolOptions(logHandler: handler), dialect: MockDialect(), creator: dbapi.creator())

        let out = try pool.connect()
        let conn = try XCTUnwrap(out.dbapiConnection)
        pool.dispose()
        XCTAssertTrue(conn.closed, "dispose closes the record's connection even while it is out")

        out.close()
        let notCheckedOut = messages.withLock { $0 }.filter { message in
            if case .notCheckedOut? = message.error as? PoolError { return true }
            return false
        }
        XCTAssertEqual(notCheckedOut.count, 1)
        XCTAssertEqual(notCheckedOut.first?.level, .error)
        XCTAssertEqual((notCheckedOut.first?.error as? PoolError)?.description, "connection is not checked out")
        XCTAssertTrue(notCheckedOut.first?.message.contains("Return to an AssertionPool with nothing checked out") ?? false, notCheckedOut.first?.message ?? "")
        XCTAssertNil(out.dbapiConnection)

        // A second close stays silent, and the pool works normally afterwards.
        out.close()
        XCTAssertEqual(messages.withLock { $0 }.filter { $0.error is PoolError }.count, 1)
        let next = try pool.connect()
        XCTAssertNotEqual(next.dbapiConnection?.id, conn.id)
        next.close()
        let again = try pool.connect()
        again.close()
        XCTAssertEqual(dbapi.connectCount, 2)
    }

    // A second close() of the same fairy is a no-op: no second rollback, nothing logged.
    func testDoubleCloseIsNoOp() throws {
        let messages = Mutex<[PoolLogMessage]>([])
        let handler = PoolLogHandler(level: .warning) { message in messages.withLock { $0.append(message) } }
        let pool = try AssertionPool(options: PoolOptions(logHandler: handler), dialect: MockDialect(), creator: MockDBAPI().creator())
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        fairy.close()
        XCTAssertEqual(conn.calls, ["rollback()"])
        XCTAssertEqual(messages.withLock { $0.count }, 0, "a double close must not report anything")
    }

    // recreate does not carry storeCheckoutLocation (it resets to true), but does carry the
    // creator, configuration and listeners.
    func testRecreateDoesNotCarryStoreCheckoutLocation() throws {
        let dbapi = MockDBAPI()
        let pool = try AssertionPool(
            storeCheckoutLocation: false, options: PoolOptions(resetOnReturn: .commit, loggingName: "ap"),
            dialect: MockDialect(), creator: dbapi.creator())
        let recorder = EventRecorder()
        recorder.attach(to: pool.events, only: [.checkout])
        let second = pool.recreate()
        XCTAssertTrue(second.storeCheckoutLocation)
        XCTAssertEqual(second.options.loggingName, "ap")
        XCTAssertEqual(second.status(), "AssertionPool")

        let first = try second.connect(); let firstLine = #line
        XCTAssertThrowsError(try second.connect()) { error in
            guard case let .alreadyCheckedOut(location?)? = error as? PoolError else {
                return XCTFail("the recreated pool must store the location, got \(error)")
            }
            XCTAssertTrue(location.hasSuffix(":\(firstLine)"), location)
        }
        let conn = try XCTUnwrap(first.dbapiConnection)
        first.close()
        XCTAssertEqual(conn.calls, ["commit()"])
        XCTAssertEqual(recorder.count(.checkout), 1)
        XCTAssertEqual(dbapi.connectCount, 1)
    }

    // A checkout that fails (creator error, reconnect error, failing checkout listener) does
    // not leave the pool marked as checked out.
    func testFailedCheckoutDoesNotLeaveFlagSet() throws {
        let dbapi = MockDBAPI()
        let pool = try AssertionPool(dialect: MockDialect(), creator: dbapi.creator())

        // The record's first connect fails.
        dbapi.failNextConnects(1)
        XCTAssertThrowsError(try pool.connect()) { XCTAssertEqual($0 as? MockError, MockError("connect failed")) }
        try pool.connect().close()

        // The record's reconnect (after dispose) fails.
        pool.dispose()
        dbapi.failNextConnects(1)
        XCTAssertThrowsError(try pool.connect()) { XCTAssertEqual($0 as? MockError, MockError("connect failed")) }
        try pool.connect().close()

        // A checkout listener throws an ordinary error.
        struct ListenerError: Error {}
        let token = pool.events.onCheckout { _, _, _ in throw ListenerError() }
        XCTAssertThrowsError(try pool.connect()) { XCTAssertTrue($0 is ListenerError, "\($0)") }
        pool.events.remove(token)
        let fairy = try pool.connect()
        XCTAssertTrue(fairy.isValid)
        fairy.close()
    }

    // The status is the pool kind's name, whatever is checked out.
    func testStatus() throws {
        let pool = try AssertionPool(dialect: MockDialect(), creator: MockDBAPI().creator())
        XCTAssertEqual(pool.status(), "AssertionPool")
        let fairy = try pool.connect()
        XCTAssertEqual(pool.status(), "AssertionPool")
        fairy.close()
    }

    // A hard invalidation ends the checkout, so the next connect() works and reconnects.
    func testInvalidationEndsCheckout() throws {
        let dbapi = MockDBAPI()
        let pool = try AssertionPool(dialect: MockDialect(), creator: dbapi.creator())
        let fairy = try pool.connect()
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.invalidate()
        XCTAssertTrue(conn.closed)
        let next = try pool.connect()
        XCTAssertNotEqual(next.dbapiConnection?.id, conn.id)
        next.close()
        XCTAssertEqual(dbapi.connectCount, 2)
    }
}
