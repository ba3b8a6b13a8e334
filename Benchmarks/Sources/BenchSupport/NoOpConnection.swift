import DBPool

/// The cheapest possible driver connection: every method is empty, there is no lock and no
/// bookkeeping, so a benchmark measures the pool and not the mock (DBPoolTesting's
/// MockConnection records every call behind a lock, which would dominate a ~100 ns cycle).
public final class NoOpConnection: DBAPIConnection {
    public init() {}
    public func rollback() throws {}
    public func commit() throws {}
    public func close() throws {}
}

/// The W1/W2/W3 pool: QueuePool(poolSize, maxOverflow), reset on return = rollback (a no-op
/// here), no pre-ping, everything else at its default (timeout 30 s, warnings to stderr).
public func makeQueuePool(
    poolSize: Int = 4, maxOverflow: Int = 0, prePing: Bool = false, timeout: Duration? = .seconds(30),
    overtakeWindow: Duration = .milliseconds(1)
) -> QueuePool<NoOpConnection> {
    try! QueuePool(
        poolSize: poolSize, maxOverflow: maxOverflow, timeout: timeout,
        options: PoolOptions(resetOnReturn: .rollback, prePing: prePing, overtakeWindow: overtakeWindow)
    ) { NoOpConnection() }
}

/// Creates every record of `pool` up front (checks `count` out at once, then returns them all),
/// so that the measured cycles never connect.
public func prefill(_ pool: QueuePool<NoOpConnection>, count: Int) {
    var fairies: [ConnectionFairy<NoOpConnection>] = []
    fairies.reserveCapacity(count)
    for _ in 0..<count { fairies.append(try! pool.connect()) }
    for fairy in fairies { fairy.close() }
    precondition(pool.checkedIn == count, "prefill: expected \(count) idle records, found \(pool.checkedIn)")
}
