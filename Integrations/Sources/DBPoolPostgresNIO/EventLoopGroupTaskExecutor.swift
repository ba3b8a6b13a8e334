import PostgresNIO

/// A task executor that keeps a task on the event loops of an `EventLoopGroup`: a job runs on
/// the loop it was enqueued from when that is one of the group's loops, and otherwise on the
/// group's next loop.
///
/// Opt in for the tasks that do the database work, when their code never blocks:
///
/// ```swift
/// let loops = EventLoopGroupTaskExecutor()
/// let open = try await withTaskExecutorPreference(loops) {
///     try await pool.withConnection { fairy in
///         var count = 0
///         for try await n in try await fairy.connection.query("SELECT count(*)::int FROM orders").decode(Int.self) { count = n }
///         return count
///     }
/// }
/// ```
///
/// Why it is faster: a statement is answered on its connection's event loop, and a task that
/// prefers this executor resumes there instead of on Swift's global executor; its next statement
/// is written from the loop, and a connection handed back to the pool wakes the next waiting task
/// on the same loop. That removes most thread wake-ups. Measured on 2 cores with `SELECT 1`
/// (`Benchmarks/run-async --only nio`): with 64 tasks sharing 8 connections it raised
/// throughput by a quarter to a third and cut the process's CPU per statement by about a fifth;
/// with one task, throughput rose by about a fifth and context switches per statement halved.
/// It suits code that is mostly database calls.
///
/// The price: the task's code runs on an event loop, so anything in it that blocks (a lock held
/// long, synchronous file I/O, a CPU-heavy loop) holds up every connection on that loop. Code
/// isolated to an actor keeps running on that actor. Nothing in swift-db-pool uses this executor
/// unless you pass it; without it, tasks stay on Swift's global executor.
///
/// Pass the group your connections are made on (``PostgresNIODialect/creator(configuration:eventLoopGroup:logger:)``'s
/// `eventLoopGroup`); by default, postgres-nio's default group.
public final class EventLoopGroupTaskExecutor: TaskExecutor {
    private let group: any EventLoopGroup

    /// An executor over `group`'s event loops.
    public init(_ group: any EventLoopGroup = PostgresConnection.defaultEventLoopGroup) {
        self.group = group
    }

    /// Runs `job` on the current event loop if it is one of the group's, else on the group's
    /// next (NIO's `EventLoopGroup.any()`).
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        group.any().execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
