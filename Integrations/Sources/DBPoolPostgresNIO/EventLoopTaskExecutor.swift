import PostgresNIO

/// A connection's event loop as a Swift task executor: a job enqueued here runs on the loop's
/// thread. ``PooledPostgresConnection`` sends each of its statements from this executor, so that
/// the check that the connection is still open and postgres-nio's write of the statement happen
/// in one event-loop job, which the channel's close cannot come between.
///
/// Why it is needed: postgres-nio 1.33.2 writes a statement to its channel with no write promise
/// (`channel.write(HandlerTask.extendedQuery(context), promise: nil)` in `PostgresConnection.query`).
/// Once the server has closed the connection (`pg_terminate_backend`, a restart) and NIO has
/// removed the channel's handlers, such a write fails with `ChannelError.ioOnClosedChannel` at
/// the head of the pipeline, the failure goes to the `nil` promise, and the statement's own
/// promise is never completed: the query never returns. Upstream fixed this in
/// vapor/postgres-nio#487 and reverted the fix in #501; every later release, 1.33.2 included,
/// behaves so. `UpstreamPostgresNIOTests` reproduces it with postgres-nio alone. Written from the
/// event loop, the write goes through the pipeline at once (NIO only defers a write made off the
/// loop), so it reaches postgres-nio's handler, which fails it properly if the connection is
/// closing, whenever the channel is still active at that moment.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
