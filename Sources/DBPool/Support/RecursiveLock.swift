#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import Synchronization

/// A recursive mutex, for the pool kinds that must run listeners (which may call back into the
/// pool on the same thread) while holding their lock: StaticPool, SingletonThreadPool and
/// AssertionPool. QueuePool uses the non-recursive `Locked`.
@usableFromInline
// Unchecked Sendable, safe because: the pthread mutex is the synchronisation; the pointer is allocated once in
// init, never reassigned, and freed only in deinit when no other reference can exist.
final class RecursiveLock: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inlinable func lock() { pthread_mutex_lock(mutex) }
    @inlinable func unlock() { pthread_mutex_unlock(mutex) }

    @inlinable
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A process-unique identity for the calling thread, for SingletonThreadPool's per-thread records.
///
/// Not `pthread_self()`: that value is reused as soon as a thread exits, so a new thread would
/// silently inherit a dead thread's connection. The identity is a counter value kept in
/// thread-specific storage, so it is never reused within the process.
func currentThreadID() -> UInt {
    if let stored = pthread_getspecific(threadIdentityKey) {
        return UInt(bitPattern: stored)
    }
    let identity = nextThreadIdentity.wrappingAdd(1, ordering: .relaxed).newValue
    // The value itself is the pointer, so there is nothing to allocate or free.
    pthread_setspecific(threadIdentityKey, UnsafeRawPointer(bitPattern: identity))
    return identity
}

private let threadIdentityKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

private let nextThreadIdentity = Atomic<UInt>(0)
