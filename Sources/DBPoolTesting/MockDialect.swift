import DBPool
import Synchronization

/// A `Dialect` for ``MockConnection`` that can ping, recognises ``MockDisconnectError`` as a
/// disconnect, and can log each dialect call to a shared ``MockCallLog``.
///
/// It combines SQLAlchemy's `PoolDialectTest` dialect (which logs `"R"`, `"C"`, `"CL"`) with the
/// ping and `is_disconnect` of `PrePingMockTest`:
///
/// | Method | Log entry | Then |
/// |---|---|---|
/// | ``doRollback(_:)`` | `"R"` | `connection.rollback()` |
/// | ``doCommit(_:)`` | `"C"` | `connection.commit()` |
/// | ``doClose(_:)`` | `"CL"` | `connection.close()` |
/// | ``doTerminate(_:)`` | `"T"` | `connection.close()` |
/// | ``doPing(_:)`` | `"P"` | `connection.cursor()`, then the answer set by ``MockConnection/failPing`` |
///
/// The log entry is written before the connection is called, so it is there even when the call
/// throws. Give the same log to an ``EventRecorder`` to see pool events and dialect calls
/// interleaved:
///
/// ```swift
/// let log = MockCallLog()
/// let pool = try QueuePool(dialect: MockDialect(log: log), creator: dbapi.creator())
/// EventRecorder(log: log).attach(to: pool.events)
/// try pool.connect().close()
/// XCTAssertEqual(log.entries, ["first_connect", "connect", "checkout", "reset", "R", "checkin"])
/// ```
public struct MockDialect: Dialect {
    /// The log that receives `"R"`, `"C"`, `"CL"`, `"T"` and `"P"`, if one was given.
    public let log: MockCallLog?
    /// Whether ``isDisconnect(_:connection:)`` recognises ``MockDisconnectError``. With `false`
    /// it recognises nothing, like SQLAlchemy's `setup_disconnect=False` fixture.
    public let recognisesDisconnects: Bool
    /// When `true`, a ping on a disconnected connection throws
    /// `MockDisconnectError("Lost the DB connection on ping")` instead of returning `false`.
    /// Use it to test that a pool treats a ping error that ``isDisconnect(_:connection:)``
    /// recognises as a failed ping.
    public let pingThrowsOnDisconnect: Bool

    /// Creates the dialect.
    ///
    /// - Parameters:
    ///   - log: a log to append each dialect call to; `nil` logs nothing.
    ///   - recognisesDisconnects: whether ``MockDisconnectError`` counts as a disconnect (default
    ///     `true`).
    ///   - pingThrowsOnDisconnect: whether a failed ping throws ``MockDisconnectError`` rather than
    ///     returning `false` (default `false`).
    public init(log: MockCallLog? = nil, recognisesDisconnects: Bool = true, pingThrowsOnDisconnect: Bool = false) {
        self.log = log
        self.recognisesDisconnects = recognisesDisconnects
        self.pingThrowsOnDisconnect = pingThrowsOnDisconnect
    }

    /// Logs `"R"`, then calls ``MockConnection/rollback()``.
    public func doRollback(_ connection: MockConnection) throws {
        log?.append("R")
        try connection.rollback()
    }

    /// Logs `"C"`, then calls ``MockConnection/commit()``.
    public func doCommit(_ connection: MockConnection) throws {
        log?.append("C")
        try connection.commit()
    }

    /// Logs `"CL"`, then calls ``MockConnection/close()``.
    public func doClose(_ connection: MockConnection) throws {
        log?.append("CL")
        try connection.close()
    }

    /// Logs `"T"`, then calls ``MockConnection/close()`` (a mock has no harder way to close).
    public func doTerminate(_ connection: MockConnection) throws {
        log?.append("T")
        try connection.close()
    }

    /// Logs `"P"`, calls ``MockConnection/cursor()`` (as SQLAlchemy's ping does), then answers:
    /// `false` if the connection was dropped or ``MockConnection/failPing`` is `.disconnect`
    /// (or throws ``MockDisconnectError`` when ``pingThrowsOnDisconnect`` is set); throws
    /// `MockError("ping failed")` if `failPing` is `.error`; `true` otherwise.
    public func doPing(_ connection: MockConnection) throws -> Bool {
        log?.append("P")
        connection.cursor()
        let alive = try connection.pingOutcome()
        if !alive && pingThrowsOnDisconnect {
            throw MockDisconnectError("Lost the DB connection on ping")
        }
        return alive
    }

    /// `true` exactly when `error` is a ``MockDisconnectError`` (and ``recognisesDisconnects`` is
    /// set). The pool's own `DisconnectionError` is not a driver error and is not recognised.
    public func isDisconnect(_ error: any Error, connection: MockConnection?) -> Bool {
        recognisesDisconnects && error is MockDisconnectError
    }
}

/// An ordered, thread-safe list of strings that several test doubles can append to, so that a
/// test can assert the interleaving of their calls.
///
/// ``MockDialect`` appends `"R"`, `"C"`, `"CL"`, `"T"` and `"P"`; ``EventRecorder`` can append
/// event names; your own listeners can append anything.
public final class MockCallLog: Sendable {
    private let storage = Guarded<[String]>([])

    /// Creates an empty log.
    public init() {}

    /// Everything appended so far, in order.
    public var entries: [String] { storage.withLock { $0 } }

    /// Appends one entry.
    public func append(_ entry: String) {
        storage.withLock { $0.append(entry) }
    }

    /// Empties the log.
    public func removeAll() {
        storage.withLock { $0.removeAll() }
    }
}
