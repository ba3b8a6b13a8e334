#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Marks threads the pool owns that are not a ``DriverExecutor``'s, such as QueuePool's
/// maintenance thread, so that the async-driver bridge may block them (see ``AsyncBridge``).
enum PoolOwnedThread {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Marks the calling thread as owned by a pool for the rest of its life.
    static func markCurrent() {
        // Any non-nil value will do; the key is only ever tested for presence.
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
    }

    /// Whether the calling thread is a driver thread or another thread a pool owns: the only
    /// threads that may wait for an async driver call.
    static var isCurrent: Bool {
        DriverExecutor.currentPointer != nil || pthread_getspecific(key) != nil
    }
}
