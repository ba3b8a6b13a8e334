import DBPool
import DBPoolTesting

/// A QueuePool over MockDBAPI whose events and dialect calls go to one shared log, and whose log
/// messages, at every level, to a recorder: the setting of the fairy tests.
struct FairyFixture {
    let dbapi = MockDBAPI()
    let log = MockCallLog()
    let logs = LogRecorder()
    let recorder: EventRecorder
    let pool: QueuePool<MockConnection>

    init(poolSize: Int = 2, resetOnReturn: ResetOnReturn = .rollback) throws {
        recorder = EventRecorder(log: log)
        pool = try QueuePool(
            poolSize: poolSize, maxOverflow: 0, timeout: .milliseconds(50),
            options: PoolOptions(resetOnReturn: resetOnReturn, logHandler: logs.handler),
            dialect: MockDialect(log: log), creator: dbapi.creator())
        recorder.attach(to: pool.events)
    }
}
