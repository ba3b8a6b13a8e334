import Foundation

/// A value behind a lock, for state shared between test threads, tasks and `@Sendable` pool
/// listeners: the one small locked box the test kit and its users need.
///
/// ```swift
/// let seen = Guarded<[String]>([])
/// pool.events.onCheckout { _, _, _ in seen.update { $0.append("checkout") } }
/// XCTAssertEqual(seen.value, ["checkout"])
/// ```
///
/// An `NSLock` rather than `Synchronization.Mutex`: on Linux that is built on raw futex calls,
/// which the thread sanitizer does not model, so suites run with `--sanitize=thread` would report
/// every locked access as a race.
// @unchecked Sendable: `stored` is only read or written between `lock.lock()` and `lock.unlock()`.
public final class Guarded<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    /// Creates a box holding `value`.
    public init(_ value: Value) {
        stored = value
    }

    /// A copy of the value, read under the lock.
    public var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    /// Changes the value under the lock and returns what `body` returns.
    @discardableResult
    public func update<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&stored)
    }

    /// The same as ``update(_:)``, under the name a lock's users look for.
    @discardableResult
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        try update(body)
    }
}
