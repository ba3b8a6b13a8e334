import Synchronization

/// A Sendable flag that a listener can consume once: `take()` is `true` the first time after it
/// was armed, `false` afterwards.
final class OnceFlag: Sendable {
    private let armed: Mutex<Bool>
    init(_ armed: Bool = true) { self.armed = Mutex(armed) }
    func take() -> Bool {
        armed.withLock { value in
            defer { value = false }; return value
        }
    }
    func arm() { armed.withLock { $0 = true } }
}
