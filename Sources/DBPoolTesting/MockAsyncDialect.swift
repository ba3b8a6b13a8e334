import DBPool

/// The async twin of ``MockDialect``: an `AsyncDialect` over ``MockConnection`` that logs the
/// same entries (`"R"`, `"C"`, `"CL"`, `"T"`, `"P"`) and gives the same answers, so that a test
/// can run one scenario over a blocking and an async driver and compare the logs.
///
/// Each call first suspends once (`Task.yield()`), as a real async driver does, and counts in
/// ``callsOnDriverThreads`` any call that found itself running on a `DriverExecutor`'s thread:
/// the pool must run async driver calls elsewhere (its driver threads only wait for them), so a
/// correct pool leaves it at 0.
///
/// ```swift
/// let pool = try await QueuePool(dialect: MockAsyncDialect(log: log), creator: dbapi.asyncCreator())
/// ```
public struct MockAsyncDialect: AsyncDialect {
    /// The blocking dialect whose behaviour this one repeats.
    public let blocking: MockDialect
    /// What ``needsReset(_:)`` answers for every connection.
    public let resetIsNeeded: Bool
    private let counter = Guarded(0)

    /// Creates the dialect; the first parameters are ``MockDialect``'s. `needsReset: false` makes
    /// it say that no return has anything to roll back (as a driver that knows no transaction is
    /// open does), so the pool skips the rollback.
    public init(
        log: MockCallLog? = nil, recognisesDisconnects: Bool = true, pingThrowsOnDisconnect: Bool = false, needsReset: Bool = true
    ) {
        blocking = MockDialect(log: log, recognisesDisconnects: recognisesDisconnects, pingThrowsOnDisconnect: pingThrowsOnDisconnect)
        resetIsNeeded = needsReset
    }

    /// The `needsReset` the dialect was created with.
    public func needsReset(_ connection: MockConnection) -> Bool { resetIsNeeded }

    /// How many calls ran on a driver thread (should stay 0; see the type's note).
    public var callsOnDriverThreads: Int { counter.withLock { $0 } }

    private func suspend() async {
        if DriverExecutor.current != nil { counter.withLock { $0 += 1 } }
        await Task.yield()
    }

    /// Suspends, then ``MockDialect/doRollback(_:)``.
    public func doRollback(_ connection: MockConnection) async throws {
        await suspend()
        try blocking.doRollback(connection)
    }

    /// Suspends, then ``MockDialect/doCommit(_:)``.
    public func doCommit(_ connection: MockConnection) async throws {
        await suspend()
        try blocking.doCommit(connection)
    }

    /// Suspends, then ``MockDialect/doClose(_:)``.
    public func doClose(_ connection: MockConnection) async throws {
        await suspend()
        try blocking.doClose(connection)
    }

    /// Suspends, then ``MockDialect/doTerminate(_:)``.
    public func doTerminate(_ connection: MockConnection) async throws {
        await suspend()
        try blocking.doTerminate(connection)
    }

    /// Suspends, then ``MockDialect/doPing(_:)``.
    public func doPing(_ connection: MockConnection) async throws -> Bool {
        await suspend()
        return try blocking.doPing(connection)
    }

    /// ``MockDialect/isDisconnect(_:connection:)``.
    public func isDisconnect(_ error: any Error, connection: MockConnection?) -> Bool {
        blocking.isDisconnect(error, connection: connection)
    }
}

extension MockDBAPI {
    /// An async creator for a pool over ``MockAsyncDialect``: suspends once, then ``connect(arguments:)``.
    public func asyncCreator(_ arguments: String...) -> @Sendable () async throws -> MockConnection {
        { [self] in
            await Task.yield()
            return try connect(arguments: arguments)
        }
    }
}
