import DBPool
import DBPoolPostgresNIO
import PostgresNIO
import Synchronization
import XCTest

// The code under test runs in nonisolated free functions: a test method's closures would take
// on the test case's isolation, and code isolated to an actor runs on that actor whatever the
// task prefers.

/// Whether the calling thread is one of `group`'s event loops (synchronous: it looks where the
/// caller is).
private func isOnALoop(of group: any EventLoopGroup) -> Bool {
    group.makeIterator().contains { $0.inEventLoop }
}

/// Where a nonisolated async function runs: on the task's preferred executor.
private func runsOnALoop(of group: any EventLoopGroup) async -> Bool {
    isOnALoop(of: group)
}

/// Suspends until `loop` resumes the task, then says whether it goes on on `loop`. The resume
/// comes 20 ms later, long after the task has suspended: a continuation resumed before that
/// goes on where the task already was, without being enqueued anywhere.
private func goesOnOn(_ loop: any EventLoop) async -> Bool {
    await withCheckedContinuation { continuation in
        loop.scheduleTask(in: .milliseconds(20)) { continuation.resume() }
    }
    return loop.inEventLoop
}

/// `rounds` checkouts, each running `SELECT 1`; counts the answers, and the bodies that ran off
/// `group`'s loops (looked at when the body starts and after its statement's answer).
private func selectOnes(_ pool: QueuePool<PooledPostgresConnection>, rounds: Int, tally: Tally, group: any EventLoopGroup) async throws {
    for _ in 0..<rounds {
        try await pool.withConnection { fairy in
            if !isOnALoop(of: group) { tally.offLoop.add(1, ordering: .relaxed) }
            for try await one in try await fairy.connection.query("SELECT 1").decode(Int.self) {
                tally.sum.add(one, ordering: .relaxed)
            }
            if !isOnALoop(of: group) { tally.offLoop.add(1, ordering: .relaxed) }
        }
    }
}

/// What the pool test's tasks count: statements answered, and bodies found off the loops.
private final class Tally: Sendable {
    let sum = Atomic<Int>(0)
    let offLoop = Atomic<Int>(0)
}

/// ``EventLoopGroupTaskExecutor``: where it runs a task, and a pool used from it.
final class EventLoopGroupTaskExecutorTests: XCTestCase {
    private let group = PostgresConnection.defaultEventLoopGroup

    func testATaskThatPrefersItRunsOnTheGroupsLoops() async {
        let loops = EventLoopGroupTaskExecutor(group)
        let onALoop = await withTaskExecutorPreference(loops) { await runsOnALoop(of: group) }
        XCTAssertTrue(onALoop)
    }

    /// The point of the executor: a task resumed by a loop (a statement's answer) goes on there,
    /// instead of waking a thread of the global executor.
    func testATaskResumedFromALoopGoesOnOnThatLoop() async {
        let loops = EventLoopGroupTaskExecutor(group)
        for loop in group.makeIterator() {
            let stayed = await withTaskExecutorPreference(loops) { await goesOnOn(loop) }
            XCTAssertTrue(stayed, "resumed from \(loop)")
        }
    }

    func testPoolTasksOnTheLoopsRunEveryStatementAndReturnEveryConnection() async throws {
        let name = "dbpool-nio-loops"
        let pool = try await QueuePool(
            poolSize: 4, maxOverflow: 0, timeout: .seconds(10), options: PoolOptions(logHandler: .disabled),
            dialect: PostgresNIODialect(),
            creator: PostgresNIODialect.creator(configuration: try serverConfiguration(applicationName: name), logger: quietLogger))
        let loops = EventLoopGroupTaskExecutor(group)
        let tally = Tally()
        let tasks = 32, rounds = 20
        try await withThrowingTaskGroup(of: Void.self) { taskGroup in
            for _ in 0..<tasks {
                taskGroup.addTask { [group] in
                    try await withTaskExecutorPreference(loops) { try await selectOnes(pool, rounds: rounds, tally: tally, group: group) }
                }
            }
            try await taskGroup.waitForAll()
        }
        XCTAssertEqual(tally.sum.load(ordering: .relaxed), tasks * rounds, "every statement answered once")
        XCTAssertEqual(tally.offLoop.load(ordering: .relaxed), 0, "every body ran on the loops")
        let statistics = pool.statistics
        XCTAssertEqual(statistics.checkouts, tasks * rounds)
        XCTAssertEqual(statistics.inUse, 0, "every connection back")
        XCTAssertEqual(statistics.openConnections, 4)
        await pool.shutdown(gracePeriod: .seconds(5))
        try await assertNoBackendsLeft(name)
    }

    /// The hang workaround holds on the loops too: a statement on a connection the server has
    /// closed fails at once.
    func testAStatementOnAClosedConnectionStillFailsAtOnceOnTheLoops() async throws {
        let creator = PostgresNIODialect.creator(
            configuration: try serverConfiguration(applicationName: "dbpool-nio-loops-closed"), logger: quietLogger)
        let connection = try await creator()
        try await terminateBackend(try await backendPID(connection))
        try await connection.underlying.closeFuture.get()
        let loops = EventLoopGroupTaskExecutor(group)
        do {
            try await finishes(within: .seconds(5), "a query on the loops") {
                try await withTaskExecutorPreference(loops) { _ = try await connection.query("SELECT 1") }
            }
            XCTFail("a query on a closed connection must fail")
        } catch is StillRunning {
        } catch {
            XCTAssertEqual(error as? ChannelError, .ioOnClosedChannel, String(reflecting: error))
        }
        try await PostgresNIODialect().doClose(connection)
    }
}
