import Synchronization
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A value behind the pool's lock. The one lock of a pool's state machine, and the lock of
/// listener registries.
///
/// The lock is an atomic word with a parking slow path (Drepper's "mutex2" shape, with a pthread
/// condition variable where that uses a futex):
/// - uncontended, locking is one compare-and-swap and unlocking one exchange, as cheap as
///   `Synchronization.Mutex`, and cheaper than a pthread mutex (the pool takes the lock twice per
///   checkout, so this is a tenth of a checkout's cost);
/// - contended, a thread spins briefly (the pool's critical sections are a few dozen
///   instructions) and then sleeps on the condition variable;
/// - it is not fair: a running thread may take the lock before a sleeping one wakes. That is on
///   purpose: handing the lock to a sleeping thread makes every later locker queue behind a
///   context switch (a lock convoy). Fairness among *checkouts* is the state machine's job, and
///   it keeps it: waiters for a connection are served first-come, first-served.
///
/// Why not `Synchronization.Mutex`: on Linux its contended path is a priority-inheritance futex,
/// which hands the lock over in the kernel. The thread sanitizer cannot see that hand-over, so
/// correctly locked accesses would be reported as races; and the hand-over convoys under load.
/// Here every acquisition, fast or slow, is an atomic operation in this module, which the thread
/// sanitizer models.
@usableFromInline
// Unchecked Sendable, safe because: `value` is read and written only inside `withLock`, while
// `state` is non-zero and held by the calling thread; `parking` and `wakeup` are used only with
// `parking` held.
final class Locked<Value>: @unchecked Sendable {
    /// 0: unlocked; 1: locked, nobody sleeping; 2: locked, and a thread may be sleeping.
    @usableFromInline let state = Atomic<Int>(0)
    @usableFromInline let parking: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let wakeup: UnsafeMutablePointer<pthread_cond_t>
    // No dynamic exclusivity check: every access is inside `withLock`, which the lock makes
    // exclusive; the check cost more than the lock itself.
    @usableFromInline @exclusivity(unchecked) var value: Value

    init(_ value: Value) {
        self.value = value
        parking = .allocate(capacity: 1)
        pthread_mutex_init(parking, nil)
        wakeup = .allocate(capacity: 1)
        pthread_cond_init(wakeup, nil)
    }

    deinit {
        pthread_cond_destroy(wakeup)
        wakeup.deallocate()
        pthread_mutex_destroy(parking)
        parking.deallocate()
    }

    @inlinable
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body(&value)
    }

    @inlinable
    func lock() {
        if state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged { return }
        lockContended()
    }

    @inlinable
    func unlock() {
        if state.exchange(0, ordering: .releasing) == 2 { wakeOne() }
    }

    /// Spins for a short while, then sleeps until an unlock wakes it.
    @usableFromInline
    func lockContended() {
        for _ in 0..<Self.spins {
            if state.load(ordering: .relaxed) == 0,
                state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged
            {
                return
            }
        }
        pthread_mutex_lock(parking)
        // Marking the lock 2 before sleeping tells the holder to wake someone. Holding `parking`
        // from the exchange to the wait means an unlock between the two cannot signal early:
        // its wakeOne blocks on `parking` until this thread is waiting.
        while state.exchange(2, ordering: .acquiring) != 0 {
            pthread_cond_wait(wakeup, parking)
        }
        pthread_mutex_unlock(parking)
    }

    @usableFromInline
    func wakeOne() {
        pthread_mutex_lock(parking)
        pthread_cond_signal(wakeup)
        pthread_mutex_unlock(parking)
    }

    /// How many times a contended lock is retried before the thread sleeps: about a microsecond,
    /// many times the longest critical section. Sleeping must stay rare: once threads sleep,
    /// every unlock pays a wake-up system call, and with fewer cores than threads the pool's
    /// throughput fell from millions of cycles a second to a quarter of a million with 100.
    @usableFromInline static var spins: Int { 1000 }
}
