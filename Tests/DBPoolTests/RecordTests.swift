import DBPool
import DBPoolTesting
import XCTest

private struct RecordFixture {
    let dbapi = MockDBAPI()
    let log = MockCallLog()
    let recorder: EventRecorder
    let clock: ManualClock
    let pool: QueuePool<MockConnection>

    init(poolSize: Int = 1, recycle: Duration? = nil, prePing: Bool = false, clock: ManualClock = ManualClock()) throws {
        self.clock = clock
        recorder = EventRecorder(log: log)
        pool = try QueuePool(
            poolSize: poolSize, maxOverflow: 0, timeout: .milliseconds(50),
            options: PoolOptions(recycle: recycle, prePing: prePing, clock: clock, logHandler: .disabled),
            dialect: MockDialect(log: log), creator: dbapi.creator())
        recorder.attach(to: pool.events)
    }
}

/// ConnectionRecord, a pool's slot for one driver connection: connecting (through the creator,
/// whose errors propagate unwrapped), info and recordInfo, invalidation, closing its connection, and
/// recycle (strictly older than `recycle`, measured from the clock reading taken just before the
/// creator ran, checked at checkout).
final class RecordTests: XCTestCase {
    // MARK: Creation

    /// A pool does not connect until the first checkout; the record created for it
    /// connects at once and holds the fairy's connection.
    func testRecordConnectsWhenCreatedAndHoldsTheFairysConnection() throws {
        let f = try RecordFixture()
        XCTAssertEqual(f.dbapi.connectCount, 0)
        let fairy = try f.pool.connect()
        XCTAssertEqual(f.dbapi.connectCount, 1)
        let record = try XCTUnwrap(fairy.record)
        XCTAssertEqual(record.dbapiConnection?.id, fairy.dbapiConnection?.id)
        XCTAssertEqual(record.dbapiConnection?.id, f.dbapi.connections[0].id)
        XCTAssertTrue(record.inUse)
        fairy.close()
        XCTAssertFalse(record.inUse)
        XCTAssertNotNil(record.dbapiConnection, "an ordinary return keeps the connection")
    }

    /// `lastConnectTime` is the clock reading taken just before the creator ran.
    func testLastConnectTimeIsTakenBeforeTheCreatorRuns() throws {
        let clock = ManualClock()
        let dbapi = MockDBAPI()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0,
            options: PoolOptions(recycle: .seconds(10), clock: clock, logHandler: .disabled),
            dialect: MockDialect()
        ) { () throws -> MockConnection in
            clock.advance(by: .seconds(5))  // a slow connect
            return try dbapi.connect()
        }
        let start = clock.now
        let fairy = try pool.connect()
        XCTAssertEqual(fairy.record?.lastConnectTime, start)
        XCTAssertEqual(clock.now, start + .seconds(5))
        fairy.close()

        // Age is measured from `start`: at start+10s it is exactly `recycle` old, not older.
        clock.advance(by: .seconds(5))
        let same = try pool.connect()
        XCTAssertEqual(dbapi.connectCount, 1)
        same.close()
        clock.advance(by: .nanoseconds(1))
        let recycled = try pool.connect()
        XCTAssertEqual(dbapi.connectCount, 2)
        XCTAssertEqual(recycled.record?.lastConnectTime, start + .seconds(10) + .nanoseconds(1))
        recycled.close()
    }

    /// The record-taking creator receives the record that is connecting, whose recordInfo it
    /// can read and write.
    func testRecordTakingCreatorReceivesTheConnectingRecord() throws {
        let dbapi = MockDBAPI()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 0, options: PoolOptions(logHandler: .disabled), dialect: MockDialect()
        ) { (record: ConnectionRecord<MockConnection>) throws -> MockConnection in
            let n = (record.recordInfo["connects"] as? Int ?? 0) + 1
            record.recordInfo["connects"] = n
            return try dbapi.connect("attempt-\(n)")
        }
        let first = try pool.connect()
        let record = try XCTUnwrap(first.record)
        first.invalidate()
        let second = try pool.connect()
        XCTAssertTrue(second.record === record)
        XCTAssertEqual(record.recordInfo["connects"] as? Int, 2)
        XCTAssertEqual(dbapi.connectCalls, [["attempt-1"], ["attempt-2"]])
        second.close()
    }

    // MARK: info / recordInfo

    /// `info` is cleared whenever the connection is replaced; `recordInfo` survives.
    /// An ordinary return keeps both.
    func testInfoClearedOnReconnectRecordInfoSurvives() throws {
        let f = try RecordFixture()
        let first = try f.pool.connect()
        let record = try XCTUnwrap(first.record)
        record.info["session"] = "abc"
        record.recordInfo["slot"] = 7
        first.close()

        let second = try f.pool.connect()
        XCTAssertTrue(second.record === record)
        XCTAssertEqual(record.info["session"] as? String, "abc", "same connection: info kept")
        XCTAssertEqual(record.recordInfo["slot"] as? Int, 7)
        second.invalidate()

        let third = try f.pool.connect()
        XCTAssertTrue(third.record === record)
        XCTAssertNotEqual(third.dbapiConnection?.id, f.dbapi.connections[0].id)
        XCTAssertTrue(record.info.isEmpty, "info must be cleared when the connection is replaced")
        XCTAssertEqual(record.recordInfo["slot"] as? Int, 7)
        third.close()
    }

    // MARK: invalidate

    /// Hard invalidation of an idle record fires invalidate (error nil) then close, terminates
    /// the connection and clears it; the same record reconnects on its next checkout.
    func testHardInvalidateOfIdleRecordClosesConnectionAndRecordReconnectsLater() throws {
        let f = try RecordFixture()
        let fairy = try f.pool.connect()
        let record = try XCTUnwrap(fairy.record)
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        f.log.removeAll()

        record.invalidate()
        XCTAssertEqual(f.log.entries, ["invalidate", "close", "T"])
        XCTAssertNil(f.recorder.events(.invalidate).first?.error)
        XCTAssertEqual(f.recorder.events(.invalidate).first?.recordID, ObjectIdentifier(record))
        XCTAssertNil(record.dbapiConnection)
        XCTAssertTrue(conn.closed)
        XCTAssertEqual(conn.calls, ["rollback()", "close()"])

        f.log.removeAll()
        let again = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["connect", "checkout"])
        XCTAssertTrue(again.record === record)
        XCTAssertEqual(record.dbapiConnection?.id, f.dbapi.connections[1].id)
        again.close()
    }

    /// The invalidate event carries the error passed in.
    func testInvalidateEventCarriesTheError() throws {
        let f = try RecordFixture()
        let fairy = try f.pool.connect()
        let record = try XCTUnwrap(fairy.record)
        fairy.close()
        record.invalidate(MockDisconnectError("gone"))
        XCTAssertEqual(f.recorder.events(.invalidate).first?.error as? MockDisconnectError, MockDisconnectError("gone"))
    }

    /// Soft invalidation fires soft_invalidate only and keeps the connection; the next
    /// checkout replaces it (close, terminate, connect) in the same record.
    func testSoftInvalidateOfRecordKeepsConnectionUntilNextCheckout() throws {
        let f = try RecordFixture()
        let fairy = try f.pool.connect()
        let record = try XCTUnwrap(fairy.record)
        let conn = try XCTUnwrap(fairy.dbapiConnection)
        fairy.close()
        f.log.removeAll()

        record.invalidate(MockError("stale"), soft: true)
        XCTAssertEqual(f.log.entries, ["soft_invalidate"])
        XCTAssertEqual(f.recorder.events(.softInvalidate).first?.error as? MockError, MockError("stale"))
        XCTAssertEqual(record.dbapiConnection?.id, conn.id)
        XCTAssertFalse(conn.closed)

        f.log.removeAll()
        let again = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertTrue(again.record === record)
        XCTAssertTrue(conn.closed)
        XCTAssertNotEqual(again.dbapiConnection?.id, conn.id)
        again.close()
    }

    /// Invalidating a record that has no connection does nothing: no event, no dialect call.
    func testInvalidateOfRecordWithoutConnectionIsANoOp() throws {
        let f = try RecordFixture()
        let fairy = try f.pool.connect()
        let record = try XCTUnwrap(fairy.record)
        fairy.close()
        record.invalidate()
        f.log.removeAll()

        record.invalidate(MockError("again"))
        record.invalidate(soft: true)
        XCTAssertEqual(f.log.entries, [])
        XCTAssertEqual(f.dbapi.connections[0].closeCount, 1)
    }

    /// A failed reconnect leaves the record without a connection (`dbapiConnection` nil), it
    /// goes back to the pool, and a later checkout connects it.
    func testFailedReconnectLeavesRecordWithoutConnection() throws {
        let f = try RecordFixture()
        let fairy = try f.pool.connect()
        let record = try XCTUnwrap(fairy.record)
        fairy.invalidate()
        f.dbapi.failNextConnects(1)
        XCTAssertThrowsError(try f.pool.connect()) { error in
            XCTAssertEqual(error as? MockError, MockError("connect failed"))
        }
        XCTAssertNil(record.dbapiConnection)
        XCTAssertFalse(record.inUse)
        XCTAssertEqual(f.pool.checkedIn, 1)
        let again = try f.pool.connect()
        XCTAssertTrue(again.record === record)
        XCTAssertNotNil(record.dbapiConnection)
        again.close()
    }

    // MARK: A creator or a close that throws

    /// A creator that throws: connect() throws the creator's own error, unwrapped, from every pool
    /// kind, again and again; no event fires, no connection exists, and a QueuePool gives the
    /// reserved slot back each time.
    func testCreatorThatThrowsPropagatesUnwrappedAndLeavesNothingBehind() throws {
        var faults = ChaosConfiguration()
        faults.connectFailures = .always
        let chaos = ChaosDBAPI(seed: 1, configuration: faults)
        let dialect = ChaosDialect()
        let pools: [any Pool<ChaosConnection>] = [
            try QueuePool(poolSize: 1, maxOverflow: 0, timeout: .zero, options: quietOptions, dialect: dialect, creator: chaos.creator()),
            try NullPool(options: quietOptions, dialect: dialect, creator: chaos.creator()),
            try StaticPool(options: quietOptions, dialect: dialect, creator: chaos.creator()),
            try AssertionPool(options: quietOptions, dialect: dialect, creator: chaos.creator()),
            try SingletonThreadPool(options: quietOptions, dialect: dialect, creator: chaos.creator())
        ]
        for pool in pools {
            let recorder = EventRecorder()
            recorder.attach(to: pool.events)
            for _ in 0..<3 {
                XCTAssertThrowsError(try pool.connect(), "\(pool.status()) \(chaos.failureMessage)") { error in
                    XCTAssertTrue(error is ChaosError, "the creator's own error, unwrapped: \(error)")
                }
            }
            XCTAssertEqual(recorder.names, [], "no events for a connect that never produced a connection")
            if let queue = pool as? QueuePool<ChaosConnection> {
                XCTAssertEqual([queue.checkedIn, queue.checkedOut, queue.overflow], [0, 0, -1], "the slot is given back each time")
            }
        }
        XCTAssertEqual(chaos.connections.count, 0)
        XCTAssertEqual(chaos.failedConnects, 15, chaos.failureMessage)
    }

    /// A driver connection whose close() throws: each close logs an error-level "Exception closing
    /// connection", the connection counts as closed, and the counters stay true.
    func testConnectionWhoseCloseThrowsIsCountedClosedWithALoggedError() throws {
        var faults = ChaosConfiguration()
        faults.closeThrows = .always
        let chaos = ChaosDBAPI(seed: 3, configuration: faults)
        let log = LogRecorder()
        let pool = try QueuePool(
            poolSize: 1, maxOverflow: 1, options: PoolOptions(logHandler: log.handler), dialect: ChaosDialect(),
            creator: chaos.creator())
        let a = try pool.connect()
        let b = try pool.connect()
        a.close()
        b.close()  // overflow: closed on return
        pool.dispose()  // the pooled one
        let errors = log.texts(at: .error)
        XCTAssertEqual(errors.filter { $0.contains("Exception closing connection") }.count, 2, "\(errors)")
        XCTAssertEqual(pool.checkedIn, 0)
        XCTAssertEqual(pool.checkedOut, 0)
        XCTAssertEqual(chaos.problems(expectOpen: 0), [], chaos.failureMessage)
    }

    // MARK: Recycle

    /// Recycle is strictly greater: at exactly `recycle` the connection is kept.
    func testRecycleDoesNotHappenAtExactlyTheRecycleAge() throws {
        let f = try RecordFixture(recycle: .seconds(30))
        let first = try f.pool.connect()
        let conn = try XCTUnwrap(first.dbapiConnection)
        first.close()
        f.log.removeAll()

        f.clock.advance(by: .seconds(30))
        let second = try f.pool.connect()
        XCTAssertEqual(second.dbapiConnection?.id, conn.id)
        XCTAssertEqual(f.log.entries, ["checkout"])
        XCTAssertEqual(f.dbapi.connectCount, 1)
        XCTAssertFalse(conn.closed)
        second.close()
    }

    /// Older than `recycle`: the checkout closes (close event with the old connection, terminate)
    /// then connects (connect event with the new one), with no invalidate, and does not ping the
    /// brand-new connection even with prePing; same record, info cleared, recordInfo kept, new
    /// lastConnectTime.
    func testRecycleReplacesConnectionOlderThanRecycleAge() throws {
        let f = try RecordFixture(recycle: .seconds(30), prePing: true)
        let first = try f.pool.connect()
        let conn = try XCTUnwrap(first.dbapiConnection)
        let record = try XCTUnwrap(first.record)
        first.info["k"] = 1
        first.recordInfo?["r"] = 2
        first.close()
        f.log.removeAll()

        f.clock.advance(by: .seconds(31))
        let second = try f.pool.connect()
        XCTAssertEqual(f.log.entries, ["close", "T", "connect", "checkout"])
        XCTAssertEqual(f.recorder.count(.invalidate), 0)
        XCTAssertEqual(f.recorder.events(.close).last?.connectionID, conn.id)
        XCTAssertEqual(f.recorder.events(.connect).last?.connectionID, second.dbapiConnection?.id)
        XCTAssertEqual(second.dbapiConnection?.calls, [], "the brand-new connection is not pinged")
        XCTAssertTrue(second.record === record)
        XCTAssertNotEqual(second.dbapiConnection?.id, conn.id)
        XCTAssertEqual(conn.calls, ["rollback()", "close()"])
        XCTAssertTrue(record.info.isEmpty)
        XCTAssertEqual(record.recordInfo["r"] as? Int, 2)
        XCTAssertEqual(record.lastConnectTime, f.clock.now)
        second.close()
    }

    /// Age is measured from the connect, not from the last checkout, and recycling is checked
    /// only at checkout (a connection that ages while checked out is returned normally).
    func testRecycleAgeCountsFromConnectAndIsCheckedOnlyAtCheckout() throws {
        let f = try RecordFixture(recycle: .seconds(30))
        let first = try f.pool.connect()
        let conn = try XCTUnwrap(first.dbapiConnection)
        first.close()

        f.clock.advance(by: .seconds(20))
        let held = try f.pool.connect()
        XCTAssertEqual(held.dbapiConnection?.id, conn.id)
        f.clock.advance(by: .seconds(20))  // 40s old while checked out
        f.log.removeAll()
        held.close()
        XCTAssertEqual(f.log.entries, ["reset", "R", "checkin"], "no recycle on return")
        XCTAssertFalse(conn.closed, "no eager recycle of an idle connection")

        let next = try f.pool.connect()  // last checkout was 20s ago, connect 40s ago
        XCTAssertNotEqual(next.dbapiConnection?.id, conn.id)
        XCTAssertTrue(conn.closed)
        next.close()
    }
}
