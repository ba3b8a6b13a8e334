import Synchronization

/// Everything a record and a fairy need from their pool that is not the pool's storage: the
/// creator, dialect, events, options, logging, the pool-wide invalidation generation and the
/// run-once state of `firstConnect`. One context per pool instance; `recreate()` makes a new one
/// with a copy of the listeners and fresh run-once and generation state.
@usableFromInline
final class PoolContext<Connection>: Sendable {
    let creator: Creator<Connection>
    @usableFromInline let dialect: any Dialect<Connection>
    @usableFromInline let events: PoolEvents<Connection>
    @usableFromInline let options: PoolOptions
    let poolName: String
    @usableFromInline let logHandler: PoolLogHandler
    let recycle: Duration?
    @usableFromInline let resetOnReturn: ResetOnReturn
    @usableFromInline let prePing: Bool
    @usableFromInline let maxUsage: Int?
    let counters = StatisticsCounters()
    /// Whether the pool is shut down (the kinds without a state machine; QueuePool's machine
    /// keeps its own phase).
    let shutdownGate = ShutdownGate()
    /// How many connections the pool may have open at once (`nil`: no limit); sizes the
    /// default ``driverExecutor``.
    let connectionLimit: Int?
    /// Where async callers' driver work runs (see ``PoolOptions/driverThreads``); `nil` runs it
    /// inline.
    @usableFromInline let driverExecutor: DriverExecutor?
    /// Whether the driver is an ``AsyncDialect`` behind the bridge (see ``AsyncBridge``): its
    /// pool refuses the blocking API and does not move an async caller's body to the driver
    /// threads.
    @usableFromInline let driverIsAsync: Bool
    /// Where an async `withConnection` runs its body: on the driver threads for a blocking
    /// driver (its calls in the body block), where the caller runs for an async one (its calls
    /// suspend, and a hop would only cost).
    @usableFromInline var bodyExecutor: DriverExecutor? { driverIsAsync ? nil : driverExecutor }
    /// An async driver's ``AsyncDialect/needsReset(_:)``; `nil` for a blocking driver, whose
    /// return always goes through its reset.
    @usableFromInline let needsReset: (@Sendable (Connection) -> Bool)?
    /// Whether ``needsReset`` is set: a plain flag, which the return reads without retaining
    /// the closure.
    @usableFromInline let asksNeedsReset: Bool
    /// Pool-wide invalidation as a generation counter rather than SQLAlchemy's timestamp: a record
    /// remembers the generation it connected in, and is stale once the counter has moved past it.
    /// Two events in the same clock tick cannot be misordered this way.
    @usableFromInline let generation = Atomic<Int>(0)

    /// `firstConnect` runs once per pool instance unless a listener throws; until the first
    /// successful run, the first-connect and connect listeners are serialised by this gate.
    private let firstConnectDone = Atomic<Bool>(false)
    private let firstConnectGate = Locked<Bool>(false)

    init(
        creator: Creator<Connection>,
        dialect: any Dialect<Connection>,
        events: PoolEvents<Connection>,
        options: PoolOptions,
        kind: String,
        connectionLimit: Int? = nil,
        driverExecutor: DriverExecutor?? = nil,
        driverIsAsync: Bool = false
    ) {
        self.creator = creator
        self.driverIsAsync = driverIsAsync
        self.connectionLimit = connectionLimit
        self.driverExecutor = driverExecutor ?? options.driverThreads.makeExecutor(connectionLimit: connectionLimit)
        self.dialect = dialect
        if let querying = dialect as? any ResetQuerying<Connection> {
            self.needsReset = { querying.needsReset($0) }
        } else {
            self.needsReset = nil
        }
        self.asksNeedsReset = needsReset != nil
        self.events = events
        self.options = options
        self.poolName = options.loggingName ?? kind
        self.logHandler = options.logHandler
        self.recycle = options.recycle
        self.resetOnReturn = options.resetOnReturn
        self.prePing = options.prePing
        self.maxUsage = options.maxUsage
        self.timestamper = Timestamper(clock: options.clock)
    }

    /// The pool's cheap timestamps (see ``Timestamper``). Last among the stored properties: it
    /// holds a non-frozen type, and the fields before it keep fixed offsets.
    @usableFromInline let timestamper: Timestamper

    /// A timestamp for diagnostics (checkout times, idle times); see ``Timestamper/now()``.
    @inlinable
    func now() -> ContinuousClock.Instant { timestamper.now() }

    /// ``now()`` as a stamp; see ``Timestamper/readStamp()``.
    @inlinable
    func readStamp() -> Int64 { timestamper.readStamp() }

    /// Turns a ``readStamp()`` value back into an instant.
    func instant(fromStamp nanoseconds: Int64) -> ContinuousClock.Instant {
        timestamper.instant(fromStamp: nanoseconds)
    }

    /// `recycle` shortened by a random part of up to `recycleJitter`.
    func jittered(_ recycle: Duration) -> Duration {
        guard options.recycleJitter > 0 else { return recycle }
        return recycle * (1 - options.recycleJitter * Double.random(in: 0..<1))
    }

    /// Whether a return's reset is only the dialect's rollback: `resetOnReturn` is `.rollback`,
    /// nobody listens for `reset`, and the debug lines that go with it are not logged.
    @inlinable
    var rollsBackQuietly: Bool {
        resetOnReturn == .rollback && !events.has(.reset) && !logHandler.isEnabled(.debug)
    }

    /// Whether a checkout must pre-ping or run `checkout` listeners.
    @inlinable
    var needsCheckoutLogic: Bool { prePing || events.has(.checkout) }

    /// A context for a recreated pool: same creator, dialect and options; copied listeners.
    func recreated(kind: String) -> PoolContext<Connection> {
        PoolContext(
            creator: creator, dialect: dialect, events: PoolEvents(copying: events), options: options, kind: kind,
            connectionLimit: connectionLimit, driverExecutor: .some(driverExecutor), driverIsAsync: driverIsAsync)
    }

    // MARK: Logging

    @inlinable
    func log(_ level: PoolLogLevel, _ message: @autoclosure () -> String, error: (any Error)? = nil) {
        guard logHandler.isEnabled(level) else { return }
        emit(level, message(), error: error)
    }

    @usableFromInline
    func emit(_ level: PoolLogLevel, _ message: String, error: (any Error)?) {
        logHandler.emit(PoolLogMessage(level: level, message: message, poolName: poolName, error: error))
    }

    // MARK: Generations

    @inlinable var currentGeneration: Int { generation.load(ordering: .acquiring) }

    @inlinable
    func isStale(_ record: ConnectionRecord<Connection>) -> Bool {
        record.connectGeneration < generation.load(ordering: .acquiring)
    }

    /// SQLAlchemy's `pool._invalidate` boundary rule: the boundary moves only when the trigger is
    /// unknown or belongs to the current generation. A failure reported by a connection from an
    /// older generation is already covered and must not move it again.
    func advanceGeneration(triggeredBy record: ConnectionRecord<Connection>?) {
        let current = generation.load(ordering: .acquiring)
        if let record, record.connectGeneration < current { return }
        // A failed exchange means another thread moved the boundary past this record already.
        _ = generation.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
    }

    /// The shared body of every pool's `invalidateAll(triggeredBy:error:)`.
    func invalidateAll(triggeredBy fairy: ConnectionFairy<Connection>?, error: (any Error)?) {
        advanceGeneration(triggeredBy: fairy?.record)
        log(.info, "Pool-wide invalidation: connections created before now will be replaced on their next checkout", error: error)
        if let fairy, fairy.isValid {
            fairy.invalidate(error)
        }
    }

    // MARK: Connect events

    func fireConnectEvents(_ connection: Connection, _ record: ConnectionRecord<Connection>) throws {
        if firstConnectDone.load(ordering: .acquiring) {
            try events.fireConnect(connection, record)
            return
        }
        try firstConnectGate.withLock { done in
            if !done {
                try events.fireFirstConnect(connection, record)
                done = true
                firstConnectDone.store(true, ordering: .releasing)
            }
            try events.fireConnect(connection, record)
        }
    }

    // MARK: Dialect calls that must not throw

    /// Pings through the dialect. `false` for a dead connection, including a thrown error that the
    /// dialect classifies as a disconnect; any other error propagates.
    func ping(_ connection: Connection) throws -> Bool {
        do {
            return try dialect.doPing(connection)
        } catch {
            if dialect.isDisconnect(error, connection: connection) {
                log(.info, "Pre-ping reported a disconnect", error: error)
                return false
            }
            throw error
        }
    }

    func closeQuietly(_ connection: Connection, terminate: Bool) {
        do {
            if terminate {
                try dialect.doTerminate(connection)
            } else {
                try dialect.doClose(connection)
            }
        } catch {
            log(.error, terminate ? "Exception terminating connection" : "Exception closing connection", error: error)
        }
    }
}
