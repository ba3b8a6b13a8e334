import Foundation

/// A value behind an `NSLock`, for the test kit's shared state.
///
/// Not `Synchronization.Mutex`: on Linux that is built on raw futex calls, which the thread
/// sanitizer does not model, so suites run with `--sanitize=thread` would report every locked
/// access as a race.
// @unchecked Sendable: `value` is only touched inside `withLock`, under `lock`.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
