import DBPool
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A fake database driver: a `connect` entry point that hands out a new ``MockConnection`` per
/// call, records how it was called, and can be told to fail or to be slow.
///
/// It follows SQLAlchemy's `MockDBAPI` from `test_pool.py` (arguments are recorded and otherwise
/// ignored; `shutdown(true)` makes every connect throw `MockError("connect failed")`), with extras
/// for failure tests: fail the next N connects, delay each connect, and "restart the database" by
/// dropping every open connection.
///
/// ```swift
/// let dbapi = MockDBAPI()
/// let pool = try QueuePool(poolSize: 2, maxOverflow: 0, dialect: MockDialect(),
///                          creator: dbapi.creator("foo.db"))
/// let c1 = try pool.connect()
/// XCTAssertEqual(dbapi.connectCalls, [["foo.db"]])
/// dbapi.shutdown(true)                           // new connections now fail
/// dbapi.failNextConnects(1)                      // or: only the next one fails
/// dbapi.dropAll()                                // every open connection is now dead
/// ```
///
/// All members are thread-safe; a connect that is sleeping for ``connectDelay`` or running
/// ``beforeConnect`` holds no lock, so concurrent connects overlap as they would with a real
/// driver.
public final class MockDBAPI: Sendable {
    private struct State {
        var connectCalls: [[String]] = []
        var connectCount = 0
        var connections: [MockConnection] = []
        var isShutdown = false
        var pendingFailures: [any Error] = []
        var connectDelay: Duration?
        var beforeConnect: (@Sendable ([String]) throws -> Void)?
    }

    private let state = Guarded(State())

    /// The script every connection this driver opens answers statements from (see
    /// ``MockScript``): script rows and failures here, and read the statement log of all its
    /// connections from ``MockScript/statements``.
    public let script: MockScript

    /// Creates a driver that is up, with no recorded calls.
    /// - Parameter script: the script its connections answer from; by default a new, empty one.
    public init(script: MockScript = MockScript()) {
        self.script = script
    }

    // MARK: Connecting

    /// Opens a new ``MockConnection``, like a driver's `connect(...)`.
    ///
    /// The arguments are recorded in ``connectCalls`` and otherwise ignored. In order, the call:
    /// 1. throws the next error queued by ``failNextConnects(_:with:)``, if any;
    /// 2. throws `MockError("connect failed")` while ``isShutdown``;
    /// 3. otherwise returns a new connection, appended to ``connections``.
    ///
    /// Before deciding 1–3 it sleeps for ``connectDelay`` and runs ``beforeConnect`` (which may
    /// throw or block), without holding any lock. Every call, failed or not, counts in
    /// ``connectCount``.
    public func connect(_ arguments: String...) throws -> MockConnection {
        try connect(arguments: arguments)
    }

    /// The array form of ``connect(_:)``.
    public func connect(arguments: [String]) throws -> MockConnection {
        let (delay, hook) = state.withLock { state in
            state.connectCalls.append(arguments)
            state.connectCount += 1
            return (state.connectDelay, state.beforeConnect)
        }
        if let delay { sleepThread(for: delay) }
        if let hook { try hook(arguments) }
        let outcome = state.withLock { state -> Result<MockConnection, any Error> in
            if !state.pendingFailures.isEmpty {
                return .failure(state.pendingFailures.removeFirst())
            }
            if state.isShutdown {
                return .failure(MockError("connect failed"))
            }
            let connection = MockConnection(script: script)
            state.connections.append(connection)
            return .success(connection)
        }
        return try outcome.get()
    }

    /// A creator closure for a pool initialiser: `{ try dbapi.connect(arguments...) }`.
    ///
    /// ```swift
    /// let pool = try QueuePool(dialect: MockDialect(), creator: dbapi.creator("foo.db"))
    /// ```
    public func creator(_ arguments: String...) -> @Sendable () throws -> MockConnection {
        { [self] in try self.connect(arguments: arguments) }
    }

    // MARK: Inspection

    /// The arguments of each ``connect(_:)`` call, in order, including calls that failed.
    /// `shutdown(false)` starts the history afresh, as SQLAlchemy's mock does.
    public var connectCalls: [[String]] { state.withLock { $0.connectCalls } }

    /// How many times ``connect(_:)`` has been called since this driver was created, successful
    /// and failed alike. Unlike ``connectCalls`` it is never reset.
    public var connectCount: Int { state.withLock { $0.connectCount } }

    /// Every connection ever returned, in the order they were returned.
    public var connections: [MockConnection] { state.withLock { $0.connections } }

    /// The connections returned that have not been closed: the ones a leak check should find
    /// empty after `pool.dispose()` with nothing checked out.
    public var openConnections: [MockConnection] {
        connections.filter { !$0.closed }
    }

    // MARK: Failure controls

    /// Stops (`true`) or restarts (`false`) the database.
    ///
    /// While shut down every ``connect(_:)`` throws `MockError("connect failed")` (SQLAlchemy's
    /// plain `Exception("connect failed")`). Existing connections are not affected; use
    /// ``dropAll()`` for that. `shutdown(false)` also clears ``connectCalls``.
    public func shutdown(_ flag: Bool) {
        state.withLock { state in
            state.isShutdown = flag
            if !flag { state.connectCalls.removeAll() }
        }
    }

    /// Whether ``shutdown(_:)`` was last called with `true`.
    public var isShutdown: Bool { state.withLock { $0.isShutdown } }

    /// Makes the next `count` calls to ``connect(_:)`` throw `error`, then connects work again.
    /// Calling it again queues more failures after the ones already queued.
    public func failNextConnects(_ count: Int, with error: any Error = MockError("connect failed")) {
        precondition(count >= 0, "failNextConnects: count must be >= 0, got \(count)")
        state.withLock { state in
            state.pendingFailures.append(contentsOf: repeatElement(error, count: count))
        }
    }

    /// How long each ``connect(_:)`` sleeps (blocking its thread) before it succeeds or fails.
    /// `nil` (default) does not sleep. Keep it small (milliseconds): it is a real sleep.
    public var connectDelay: Duration? {
        get { state.withLock { $0.connectDelay } }
        set { state.withLock { $0.connectDelay = newValue } }
    }

    /// A hook run by every ``connect(_:)`` with its arguments, after ``connectDelay`` and before
    /// the connection is made, with no lock held. Throw from it to fail that connect with your
    /// error; block in it (on a semaphore or condition of your own) to hold a connect open while
    /// the test does something else. `nil` by default.
    public var beforeConnect: (@Sendable (_ arguments: [String]) throws -> Void)? {
        get { state.withLock { $0.beforeConnect } }
        set { state.withLock { $0.beforeConnect = newValue } }
    }

    /// Simulates a database restart: calls ``MockConnection/drop()`` on every open connection, so
    /// each of them now fails every operation as a disconnect. New connects keep working.
    public func dropAll() {
        for connection in openConnections { connection.drop() }
    }
}

/// Blocks the calling thread for `duration` (no Foundation needed).
func sleepThread(for duration: Duration) {
    let (seconds, attoseconds) = duration.components
    guard seconds > 0 || (seconds == 0 && attoseconds > 0) else { return }
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR {
        request = remaining
    }
}
