import DBPool
import DBPoolTesting

/// A QueuePool over `dbapi` whose clock is `clock` (a ManualClock the test advances), with
/// logging off and `configure` applied to its options: the setting of the tests of warm pools,
/// idle and lifetime limits, connecting, shutdown and deinit.
func lifecyclePool(
    _ size: Int = 4, _ overflow: Int = 0, timeout: Duration? = .seconds(5),
    dbapi: MockDBAPI, clock: ManualClock = ManualClock(), configure: (inout PoolOptions) -> Void = { _ in }
) throws -> QueuePool<MockConnection> {
    var options = PoolOptions(clock: clock, logHandler: .disabled)
    configure(&options)
    return try QueuePool(
        poolSize: size, maxOverflow: overflow, timeout: timeout, options: options,
        dialect: MockDialect(), creator: dbapi.creator())
}
