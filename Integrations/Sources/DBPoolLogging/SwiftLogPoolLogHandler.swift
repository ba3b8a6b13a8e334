import DBPool
import Logging

extension PoolLogHandler {
    /// A handler that forwards the pool's messages to a swift-log `Logger`.
    ///
    /// Levels map one to one (`debug`, `info`, `warning`, `error`). The handler's own level is
    /// the lowest pool level the logger would keep, read from `logger.logLevel` now, so the pool
    /// never formats a message the logger would drop: below it a log call costs one comparison.
    /// A logger at `.critical` keeps nothing the pool says, and the handler drops everything.
    ///
    /// Each line carries the pool's name under `poolNameKey` and, only when there is one, the
    /// error under `errorKey`, on top of the logger's own metadata:
    ///
    /// ```swift
    /// var logger = Logger(label: "db")
    /// logger.logLevel = .info
    /// let options = PoolOptions(loggingName: "orders", logHandler: .swiftLog(logger))
    /// ```
    public static func swiftLog(_ logger: Logger, poolNameKey: String = "pool", errorKey: String = "error") -> PoolLogHandler {
        guard let level = poolLevel(keptBy: logger.logLevel) else {
            return PoolLogHandler(level: .error) { _ in }
        }
        return PoolLogHandler(level: level) { message in
            var metadata: Logger.Metadata = [:]
            if !message.poolName.isEmpty { metadata[poolNameKey] = .string(message.poolName) }
            if let error = message.error { metadata[errorKey] = .string(String(describing: error)) }
            logger.log(level: swiftLogLevel(message.level), "\(message.message)", metadata: metadata.isEmpty ? nil : metadata)
        }
    }

    /// The swift-log level a pool level is logged at.
    public static func swiftLogLevel(_ level: PoolLogLevel) -> Logger.Level {
        switch level {
        case .debug: .debug
        case .info: .info
        case .warning: .warning
        case .error: .error
        }
    }

    /// The lowest pool level whose messages a logger at `level` keeps; `nil` when it keeps none.
    static func poolLevel(keptBy level: Logger.Level) -> PoolLogLevel? {
        switch level {
        case .trace, .debug: .debug
        case .info: .info
        case .notice, .warning: .warning
        case .error: .error
        case .critical: nil
        }
    }
}
