import DBPool

/// Which faults a ``ChaosDBAPI`` injects, and how often. Every fault is off by default.
///
/// Rates are ``ChaosRate`` values (`k` in `n`, optionally with their own seed); whether a
/// particular connect, ping, rollback, close or statement faults is decided by the seed and that
/// operation's position (the 7th connect, the 3rd rollback or 5th statement of connection #12), so a single-threaded run replays exactly from its seed,
/// and a multi-threaded one replays the same fault pattern.
///
/// ```swift
/// var faults = ChaosConfiguration()
/// faults.connectFailures = try ChaosRate(1, in: 10)     // one connect in ten throws
/// faults.slowConnects = try ChaosRate(1, in: 5)         // one in five sleeps `connectDelay` first
/// faults.fragileConnections = try ChaosRate(1, in: 4)   // a quarter of connections drop...
/// faults.fragileLifetime = 5...50                   // ...after 5 to 50 operations
/// faults.rollbackDisconnects = try ChaosRate(1, in: 50)
/// let chaos = ChaosDBAPI(seed: 42, configuration: faults)
/// ```
///
/// Statement faults (``statementErrors``, ``statementDisconnects``, ``midTransactionDisconnects``,
/// ``disconnectsAfterStatement``, ``slowStatements``) hit the statements your code runs, which is
/// where a repository's error handling lives; ``statementFaults`` turns them all on.
///
/// Delays are real sleeps of the calling thread; keep them small (milliseconds).
public struct ChaosConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// How often `connect` throws ``ChaosError`` ("connect failed") instead of connecting.
    public var connectFailures: ChaosRate = .never
    /// How often `connect` sleeps ``connectDelay`` before connecting (or failing).
    public var slowConnects: ChaosRate = .never
    /// How long a slow connect sleeps. Default 1 ms.
    public var connectDelay: Duration = .milliseconds(1)
    /// How many connections are fragile: they drop (every later operation fails as a
    /// disconnect) after a number of operations drawn from ``fragileLifetime``.
    public var fragileConnections: ChaosRate = .never
    /// The number of operations (rollback, commit, execute, ping) a fragile connection survives.
    /// Default `1...20`.
    public var fragileLifetime: ClosedRange<Int> = 1...20
    /// How often a ping hangs for ``pingHangDelay`` before answering.
    public var pingHangs: ChaosRate = .never
    /// How long a hanging ping sleeps. Default 2 ms.
    public var pingHangDelay: Duration = .milliseconds(2)
    /// How often a ping reports a disconnect. The connection is then dropped for good.
    public var pingDisconnects: ChaosRate = .never
    /// When `true`, a ping on a dead connection throws ``ChaosDisconnectError`` instead of
    /// answering `false`, to test that the pool classifies ping errors with `isDisconnect`.
    public var pingThrowsOnDisconnect = false
    /// How often `rollback` (and `commit`) throws ``ChaosDisconnectError``. The connection is then
    /// dropped for good.
    public var rollbackDisconnects: ChaosRate = .never
    /// How often `rollback` (and `commit`) throws an ordinary ``ChaosError``; the connection stays
    /// usable.
    public var rollbackErrors: ChaosRate = .never
    /// How often `close` throws ``ChaosError`` (after closing the connection, as drivers do).
    public var closeThrows: ChaosRate = .never

    // Statement faults: these reach the code that runs statements, which a pre-ping cannot shield.

    /// How often a statement (`execute`, `query`, `queryRows`) throws an ordinary ``ChaosError``
    /// without running. The connection stays usable and an open transaction stays open.
    public var statementErrors: ChaosRate = .never
    /// How often a statement throws ``ChaosDisconnectError`` without running, anywhere; the
    /// connection is then dropped for good.
    public var statementDisconnects: ChaosRate = .never
    /// How often a statement inside a transaction (after `BEGIN` or `START TRANSACTION`, up to
    /// and including the `COMMIT`) throws ``ChaosDisconnectError`` without running; the
    /// connection is dropped and the transaction is lost, as when a server dies mid-transaction.
    public var midTransactionDisconnects: ChaosRate = .never
    /// How often the connection drops just after a statement succeeded: that statement took
    /// effect, and the next one on the same checkout (or the pool's reset on return) fails as a
    /// disconnect. Outside a transaction the statement stays committed; inside one it is lost
    /// with the transaction.
    public var disconnectsAfterStatement: ChaosRate = .never
    /// How often a statement sleeps ``statementDelay`` before running (or failing).
    public var slowStatements: ChaosRate = .never
    /// How long a slow statement sleeps. Default 1 ms.
    public var statementDelay: Duration = .milliseconds(1)

    /// A configuration with every fault off. Set the fields you want.
    public init() {}

    /// A mix of every fault at a moderate rate, for stress and soak tests: about one connect in
    /// twenty fails, one in ten is slow, one connection in five drops within 10 to 200
    /// operations, and pings, rollbacks and closes fail now and then.
    public static var everything: ChaosConfiguration {
        var c = ChaosConfiguration()
        c.connectFailures = ChaosRate(checked: 1, 20)
        c.slowConnects = ChaosRate(checked: 1, 10)
        c.connectDelay = .milliseconds(1)
        c.fragileConnections = ChaosRate(checked: 1, 5)
        c.fragileLifetime = 10...200
        c.pingHangs = ChaosRate(checked: 1, 50)
        c.pingHangDelay = .milliseconds(2)
        c.pingDisconnects = ChaosRate(checked: 1, 100)
        c.rollbackDisconnects = ChaosRate(checked: 1, 100)
        c.rollbackErrors = ChaosRate(checked: 1, 100)
        c.closeThrows = ChaosRate(checked: 1, 50)
        return c
    }

    /// Every statement fault at a moderate rate and nothing else, for testing your own data access
    /// code: about one statement in twenty fails, one in twenty-five disconnects (one in ten
    /// inside a transaction), one in fifty is followed by a disconnect, one in ten is slow (1 ms).
    /// Connects, pings and resets work. Combine with ``everything`` field by field if you want both.
    public static var statementFaults: ChaosConfiguration {
        var c = ChaosConfiguration()
        c.statementErrors = ChaosRate(checked: 1, 20)
        c.statementDisconnects = ChaosRate(checked: 1, 25)
        c.midTransactionDisconnects = ChaosRate(checked: 1, 10)
        c.disconnectsAfterStatement = ChaosRate(checked: 1, 50)
        c.slowStatements = ChaosRate(checked: 1, 10)
        c.statementDelay = .milliseconds(1)
        return c
    }

    /// Every setting, on one line, for failure messages.
    public var description: String {
        "connectFailures: \(connectFailures), slowConnects: \(slowConnects) x \(connectDelay), "
            + "fragileConnections: \(fragileConnections) after \(fragileLifetime) ops, "
            + "pingHangs: \(pingHangs) x \(pingHangDelay), pingDisconnects: \(pingDisconnects)"
            + "\(pingThrowsOnDisconnect ? " (thrown)" : ""), rollbackDisconnects: \(rollbackDisconnects), "
            + "rollbackErrors: \(rollbackErrors), closeThrows: \(closeThrows), "
            + "statementErrors: \(statementErrors), statementDisconnects: \(statementDisconnects), "
            + "midTransactionDisconnects: \(midTransactionDisconnects), "
            + "disconnectsAfterStatement: \(disconnectsAfterStatement), slowStatements: \(slowStatements) x \(statementDelay)"
    }
}
