import Dispatch
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one background thread of a QueuePool that has idle timeouts, keep-alive, `minIdle`,
/// connect backoff or leak detection. Zero dependencies: a plain pthread that runs the pool's
/// maintenance tick, then sleeps until the next thing is due on the pool's `PoolClock` (at most
/// `pollLimit`, so new work is picked up), or until nudged or stopped.
///
/// With `ManualClock`, `PoolClock.realDelay(until:)` is a few milliseconds, so the thread follows
/// the test's clock: advancing it is enough to make maintenance happen, without sleeping.
///
/// The thread holds the pool weakly, so it never keeps a pool alive; it ends when the pool is
/// shut down or deallocated.
// @unchecked Sendable: `stopped` and `tick` are read and written only while holding `lock`;
// `wakeUp` is a thread-safe semaphore; `clock` is immutable.
final class MaintenanceThread: @unchecked Sendable {
    /// Runs one maintenance pass; returns when it next has work, or `.stop` to end the thread.
    typealias Tick = @Sendable () -> MaintenanceDue
    enum MaintenanceDue { case at(ContinuousClock.Instant), idle, stop }

    static let pollLimit = Duration.milliseconds(100)

    private var tick: Tick?
    private let clock: any PoolClock
    private let wakeUp = DispatchSemaphore(value: 0)
    private let lock = RecursiveLock()
    private var stopped = false

    init(clock: any PoolClock) {
        self.clock = clock
    }

    /// Starts the thread. The pool passes its tick here rather than at init, because the tick
    /// captures the pool, which does not exist yet while its properties are being set.
    func start(tick: @escaping Tick) {
        lock.withLock { self.tick = tick }
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { raw in
                let me = Unmanaged<MaintenanceThread>.fromOpaque(raw!).takeRetainedValue()
                me.run()
                return nil
            }, context)
        if result == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<MaintenanceThread>.fromOpaque(context).release()
        }
    }

    /// Asks the thread to re-run its tick now (new work may be due sooner than it planned).
    func nudge() { wakeUp.signal() }

    /// Stops the thread after its current pass.
    func stop() {
        lock.withLock { stopped = true }
        wakeUp.signal()
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func run() {
        // Keep-alive pings and minIdle top-ups of an async driver wait for it on this thread.
        PoolOwnedThread.markCurrent()
        while !isStopped, let tick = lock.withLock({ self.tick }) {
            let delay: Duration
            switch tick() {
            case .stop:
                return
            case .idle:
                delay = Self.pollLimit
            case let .at(due):
                delay = min(clock.realDelay(until: due), Self.pollLimit)
            }
            // At least a millisecond, so that work that is due but blocked (a connect still in
            // flight during a backoff) cannot make the thread spin.
            let nanoseconds = max(1_000_000, Int(delay.components.seconds) * 1_000_000_000 + Int(delay.components.attoseconds / 1_000_000_000))
            _ = wakeUp.wait(timeout: .now() + .nanoseconds(nanoseconds))
        }
    }
}
