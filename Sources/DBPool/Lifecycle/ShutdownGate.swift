import Synchronization
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The shutdown state of the pool kinds without a state machine (NullPool, StaticPool,
/// SingletonThreadPool, AssertionPool), and the grace-period wait that every kind's
/// `shutdown(gracePeriod:)` shares.
final class ShutdownGate: Sendable {
    private let shutDown = Atomic<Bool>(false)

    /// Whether `shutdown(gracePeriod:)` has been called.
    var isShutDown: Bool { shutDown.load(ordering: .acquiring) }

    /// Throws ``PoolError/shutDown`` once the pool is shut down: the first step of a checkout.
    func checkRunning() throws {
        if isShutDown { throw PoolError.shutDown }
    }

    /// Marks the pool shut down.
    func close() {
        shutDown.store(true, ordering: .releasing)
    }

    /// How often a shutdown looks whether the connections still out have come back.
    static let pollInterval = Duration.milliseconds(1)

    /// Blocks until `outstanding()` is 0 or `gracePeriod` has passed; returns what is left.
    static func waitBlocking(gracePeriod: Duration, outstanding: () -> Int) -> Int {
        let deadline = ContinuousClock.now + gracePeriod
        var left = outstanding()
        while left > 0 && ContinuousClock.now < deadline {
            usleep(UInt32(Timestamper.nanoseconds(in: pollInterval) / 1_000))
            left = outstanding()
        }
        return left
    }

    /// Suspends until `outstanding()` is 0, `gracePeriod` has passed or the task is cancelled;
    /// returns what is left.
    static func wait(gracePeriod: Duration, outstanding: () -> Int) async -> Int {
        let deadline = ContinuousClock.now + gracePeriod
        var left = outstanding()
        while left > 0 && ContinuousClock.now < deadline {
            do {
                try await Task.sleep(for: pollInterval)
            } catch {
                // Cancelled: the pool is shut down all the same; stop waiting at once.
                return outstanding()
            }
            left = outstanding()
        }
        return left
    }
}
