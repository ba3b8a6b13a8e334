import Synchronization
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Threads the pool owns, on which the blocking driver work of async callers runs: the creator,
/// pre-ping, the reset on return, close, terminate, and the body of an async `withConnection`.
///
/// Swift's cooperative thread pool has one thread per core, and a job that blocks in a system
/// call holds its thread: the runtime never adds threads to make up for it. A blocking driver
/// call made from a task therefore stops every other task in the process once as many tasks
/// block as there are cores. The pool keeps that from happening by running async callers' driver
/// work here instead, through Swift's task executor preference (SE-0417): an async
/// `withConnection` runs its body with this executor preferred, so the body, and a default
/// actor's code inside it, run on these threads; tasks waiting for a connection stay suspended
/// and hold no thread.
///
/// Threads are started on demand, one whenever work arrives and none is free, up to
/// ``maximumThreads``; a thread with nothing to do for ``idleThreadLifetime`` ends. So a pool
/// costs no thread until an async caller needs one, and keeps only as many as its peak.
///
/// A pool makes its own executor from ``PoolOptions/driverThreads``; pass
/// ``DriverThreads/shared(_:)`` to let several pools share one.
// @unchecked Sendable: `jobs`, `threads`, `idleThreads`, `wakeUpsPending`, `spinning`,
// `spinClaims` and `retiring` are read and written only while holding `mutex`; `wakeUp` is used only with `mutex` held;
// `queued` is atomic; the rest is immutable.
public final class DriverExecutor: TaskExecutor, @unchecked Sendable {
    /// The most threads this executor runs at once; `nil` is no limit.
    public let maximumThreads: Int?
    /// How long a thread with nothing to do waits for work before it ends.
    public let idleThreadLifetime: Duration
    /// The name the threads carry (seen in debuggers and `top -H`).
    public let threadName: String

    private enum Job {
        case task(UnownedJob)
        case work(@Sendable () -> Void)
    }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wakeUp: UnsafeMutablePointer<pthread_cond_t>
    private var jobs = RingBuffer<Job>(initialCapacity: 16)
    private var threads = 0
    private var idleThreads = 0
    /// Idle threads signalled for a job and not yet awake: a push counts on each idle thread once.
    private var wakeUpsPending = 0
    /// Threads that ran out of work and watch `queued` for a while before they sleep, and how
    /// many of them pushed jobs already count on (so that a push relies on each spinner once).
    private var spinning = 0
    private var spinClaims = 0
    /// `jobs.count`, readable without the mutex, for the spinners.
    private let queued = Atomic<Int>(0)
    private var retiring = false

    /// How long a thread that ran out of work watches for more before it sleeps. A job that
    /// arrives meanwhile (the next cycle of the same task, typically, a few microseconds after
    /// its previous job ended) starts without a wake-up: a sleeping thread costs the submitter a
    /// system call and the job the thread's wake-up latency, several microseconds each. One
    /// thread at a time spins, and it yields the processor between looks, so that on a busy
    /// machine the spinning costs the threads with work little.
    static let spinNanoseconds: Int64 = 25_000

    /// Creates an executor that starts threads on demand, up to `maximumThreads` (`nil`: no
    /// limit). Throws ``PoolError/invalidArgument(_:)`` for a limit below 1 or above
    /// ``DriverThreads/largestThreadCount``, or an idle lifetime that is not positive.
    public init(maximumThreads: Int?, idleThreadLifetime: Duration = .seconds(10), threadName: String = "dbpool-driver") throws {
        if let maximumThreads {
            try DriverThreads.validate(count: maximumThreads, parameter: "maximumThreads")
        }
        guard idleThreadLifetime > .zero, idleThreadLifetime <= .seconds(86_400) else {
            throw PoolError.invalidArgument("idleThreadLifetime must be a duration > 0 and <= 86400 seconds; got \(idleThreadLifetime)")
        }
        self.maximumThreads = maximumThreads
        self.idleThreadLifetime = idleThreadLifetime
        self.threadName = threadName
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        wakeUp = .allocate(capacity: 1)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if !canImport(Darwin)
            // Idle threads time out on the monotonic clock, so a wall-clock jump cannot keep them.
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(wakeUp, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(wakeUp)
        wakeUp.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// The executor whose thread is running the caller, if it is one of these threads.
    public static var current: DriverExecutor? {
        guard let raw = pthread_getspecific(currentExecutorKey) else { return nil }
        // The thread holds its executor for as long as it runs, so the reference is alive.
        return Unmanaged<DriverExecutor>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Whether the caller runs on one of this executor's threads.
    @inlinable
    public var isCurrent: Bool { DriverExecutor.currentPointer == Unmanaged.passUnretained(self).toOpaque() }

    @usableFromInline
    static var currentPointer: UnsafeMutableRawPointer? { pthread_getspecific(currentExecutorKey) }

    /// Threads running now (busy or idle); for diagnostics and tests.
    public var threadCount: Int { locked { threads } }

    /// Runs a task's job on one of the threads. Called by the Swift runtime.
    public func enqueue(_ job: consuming ExecutorJob) {
        push(.task(UnownedJob(job)))
    }

    /// Runs `work` on one of the threads, without waiting for it: the return of a connection that
    /// an async caller gave back with a synchronous call.
    func submit(_ work: @escaping @Sendable () -> Void) {
        push(.work(work))
    }

    /// Runs `body` on one of the threads and returns its result; already on one, it runs at once.
    /// The calling task stays suspended meanwhile, holding no thread.
    @inlinable
    func run<T>(_ body: () throws -> T) async throws -> T {
        if isCurrent { return try body() }
        return try await withTaskExecutorPreference(self) { try body() }
    }

    /// Lets idle threads end now instead of after their idle lifetime. Work submitted later still
    /// runs: it starts a thread again. Called when the pool that owns the executor goes away.
    func retireIdleThreads() {
        locked {
            retiring = true
            pthread_cond_broadcast(wakeUp)
        }
    }

    private func push(_ job: Job) {
        let start: Bool = locked {
            jobs.pushBack(job)
            queued.add(1, ordering: .relaxed)
            retiring = false
            if spinning > spinClaims {
                // A spinning thread will see it.
                spinClaims += 1
                return false
            }
            if idleThreads > wakeUpsPending {
                wakeUpsPending += 1
                pthread_cond_signal(wakeUp)
                return false
            }
            guard threads < (maximumThreads ?? .max) else { return false }
            threads += 1
            return true
        }
        if start { startThread() }
    }

    private func startThread() {
        let retained = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { raw in
                let executor = Unmanaged<DriverExecutor>.fromOpaque(raw!).takeRetainedValue()
                executor.runThread(raw!)
                return nil
            }, retained)
        guard result == 0 else {
            // No thread could be made (the process is out of threads): give the count back. The
            // job stays queued for a thread that exists, or for the next one started.
            Unmanaged<DriverExecutor>.fromOpaque(retained).release()
            locked { threads -= 1 }
            return
        }
        pthread_detach(thread)
    }

    private func runThread(_ me: UnsafeMutableRawPointer) {
        pthread_setspecific(currentExecutorKey, me)
        setThreadName(threadName)
        pthread_mutex_lock(mutex)
        var spun = false
        while true {
            var job = jobs.popFront()
            if job != nil {
                queued.subtract(1, ordering: .relaxed)
                pthread_mutex_unlock(mutex)
                // The job is moved out and released by this statement, before the lock is taken
                // again: releasing it may free what it held (a pool's last reference, whose deinit
                // calls retireIdleThreads), and that must not happen under `mutex`.
                run(job.take()!)
                pthread_mutex_lock(mutex)
                spun = false
                continue
            }
            if retiring { break }
            if !spun && spinning == 0 {
                spun = true
                spinForWork()
                continue
            }
            idleThreads += 1
            let timedOut = waitForWork()
            idleThreads -= 1
            // Whatever woke it, it looks at the queue next, so it takes over a pending wake-up.
            if wakeUpsPending > 0 { wakeUpsPending -= 1 }
            if timedOut && jobs.isEmpty { break }
        }
        threads -= 1
        pthread_mutex_unlock(mutex)
        pthread_setspecific(currentExecutorKey, nil)
    }

    private func run(_ job: Job) {
        switch job {
        case let .task(task): task.runSynchronously(on: asUnownedTaskExecutor())
        case let .work(work): work()
        }
    }

    /// Watches `queued` for up to ``spinNanoseconds`` with `mutex` released (it is held on entry
    /// and on return). On return the thread no longer counts as spinning, and it takes over one
    /// claim a push made on the spinners, if any: it looks at the queue next, so the job behind
    /// that claim is run, by this thread or by one that got there first.
    private func spinForWork() {
        spinning += 1
        pthread_mutex_unlock(mutex)
        let deadline = fineMonotonicNanoseconds() &+ Self.spinNanoseconds
        while queued.load(ordering: .relaxed) == 0 && fineMonotonicNanoseconds() < deadline {
            sched_yield()
        }
        pthread_mutex_lock(mutex)
        spinning -= 1
        if spinClaims > 0 { spinClaims -= 1 }
    }

    /// Waits on `wakeUp` (with `mutex` held) until signalled or the idle lifetime has passed.
    private func waitForWork() -> Bool {
        var now = timespec()
        #if canImport(Darwin)
            clock_gettime(CLOCK_REALTIME, &now)
        #else
            clock_gettime(CLOCK_MONOTONIC, &now)
        #endif
        let (seconds, attoseconds) = idleThreadLifetime.components
        var deadline = now
        deadline.tv_sec += Int(seconds)
        deadline.tv_nsec += Int(attoseconds / 1_000_000_000)
        if deadline.tv_nsec >= 1_000_000_000 {
            deadline.tv_sec += 1
            deadline.tv_nsec -= 1_000_000_000
        }
        return pthread_cond_timedwait(wakeUp, mutex, &deadline) == ETIMEDOUT
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }
}

private func setThreadName(_ name: String) {
    // Linux allows 15 bytes plus the terminator; longer names are refused, not cut.
    let short = String(name.utf8.prefix(15)) ?? "dbpool-driver"
    #if canImport(Darwin)
        pthread_setname_np(short)
    #else
        _ = linuxSetThreadName(pthread_self(), short)
    #endif
}

#if !canImport(Darwin)
    // Glibc declares pthread_setname_np only under _GNU_SOURCE, which Swift's Glibc module does not
    // define; the symbol itself is always in libc.
    @_silgen_name("pthread_setname_np")
    private func linuxSetThreadName(_ thread: pthread_t, _ name: UnsafePointer<CChar>) -> Int32
#endif

/// Which executor's thread is running, per thread (an unretained pointer; the thread holds it).
let currentExecutorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()
