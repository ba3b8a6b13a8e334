import DBPool

/// Records every message a pool logs, for assertions: give its ``handler`` to
/// `PoolOptions.logHandler`.
///
/// ```swift
/// let log = LogRecorder(level: .warning)
/// let pool = try QueuePool(options: PoolOptions(logHandler: log.handler)) { try MyConnection() }
/// _ = try pool.connect()   // dropped without close()
/// XCTAssertTrue(log.contains("dropped without close()"))
/// ```
public final class LogRecorder: Sendable {
    private let recorded = Guarded<[PoolLogMessage]>([])
    /// The lowest level recorded.
    public let level: PoolLogLevel

    /// Creates a recorder for messages at `level` and above (default: every level).
    public init(level: PoolLogLevel = .debug) {
        self.level = level
    }

    /// The log handler to put in `PoolOptions.logHandler`.
    public var handler: PoolLogHandler {
        PoolLogHandler(level: level) { [recorded] message in recorded.update { $0.append(message) } }
    }

    /// Every message recorded, in order.
    public var messages: [PoolLogMessage] { recorded.value }

    /// The texts of the messages, in order.
    public var texts: [String] { messages.map(\.message) }

    /// Whether some recorded message's text contains `fragment`.
    public func contains(_ fragment: String) -> Bool {
        messages.contains { $0.message.contains(fragment) }
    }

    /// Forgets what was recorded so far.
    public func removeAll() {
        recorded.update { $0.removeAll() }
    }
}
