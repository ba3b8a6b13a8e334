import DBPool
import DBPoolTesting

/// A QueuePool over MockDBAPI whose events (through an EventRecorder) and dialect calls ("R",
/// "C", "CL", "T", "P") go to one shared MockCallLog, in the order they happen.
struct EventFixture {
    let dbapi = MockDBAPI()
    let log = MockCallLog()
    let recorder: EventRecorder
    let pool: QueuePool<MockConnection>

    /// `recognisesDisconnects` and `pingThrowsOnDisconnect` configure the ``MockDialect``.
    init(
        poolSize: Int = 2, maxOverflow: Int = 0, options: PoolOptions = PoolOptions(logHandler: .disabled),
        attachRecorder: Bool = true, recognisesDisconnects: Bool = true, pingThrowsOnDisconnect: Bool = false
    ) throws {
        recorder = EventRecorder(log: log)
        pool = try QueuePool(
            poolSize: poolSize, maxOverflow: maxOverflow, timeout: .milliseconds(50), options: options,
            dialect: MockDialect(log: log, recognisesDisconnects: recognisesDisconnects, pingThrowsOnDisconnect: pingThrowsOnDisconnect),
            creator: dbapi.creator("foo.db"))
        if attachRecorder { recorder.attach(to: pool.events) }
    }

    /// Checks out `count` connections at once and returns them all, so that the pool holds
    /// `count` idle connections, oldest first in the queue; then clears the log and the recorder.
    @discardableResult
    func warm(_ count: Int) throws -> [MockConnection] {
        let fairies = try (0..<count).map { _ in try pool.connect() }
        let conns = fairies.map { $0.dbapiConnection! }
        fairies.forEach { $0.close() }
        log.removeAll()
        recorder.clear()
        return conns
    }
}
