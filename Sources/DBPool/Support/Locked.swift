#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a pthread mutex. The pool's one lock for its state machine, and the lock for
/// listener registries.
///
/// Why not `Synchronization.Mutex`: on Linux it is built on raw futex calls, which the thread
/// sanitizer does not model, so every correctly locked access would be reported as a race and
/// real races would drown in the noise. pthread mutexes are modelled, cost about the same
/// uncontended, and keep `swift test --sanitize=thread` meaningful.
@usableFromInline
// Unchecked Sendable, safe because: `value` is read and written only inside `withLock`, between
// pthread_mutex_lock and pthread_mutex_unlock on `mutex`; the mutex pointer itself is immutable.
final class Locked<Value>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    // No dynamic exclusivity check: every access is inside `withLock`, which the mutex makes
    // exclusive; the check cost more than the lock itself.
    @usableFromInline @exclusivity(unchecked) var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inlinable
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
