#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import Synchronization

/// Ctrl-C and SIGTERM. The first one asks the run to stop: workers cut their `--hold` short, and
/// the database is still deleted and the summary printed. A second one, for when that cleanup
/// hangs, deletes the temporary SQLite files from the handler itself and then dies of the signal
/// the usual way. (A PostgreSQL table cannot be dropped from a signal handler; it stays.)
enum StopSignals {
    /// Installs the handlers. Call before any file is registered for cleanup.
    static func install() {
        // Globals are initialised on first use, which is not safe inside a signal handler.
        _ = interruptSignal.load(ordering: .relaxed)
        emergencyCleanup.prepare()
        for stopSignal in [SIGINT, SIGTERM] {
            signal(stopSignal) { received in
                // Only async-signal-safe calls from here on: atomics, write, unlink, signal, raise.
                if interruptSignal.compareExchange(expected: 0, desired: received, ordering: .relaxed).exchanged {
                    let notice: StaticString = "\ndbpool-demo: stopping early; a second Ctrl-C or SIGTERM quits at once\n"
                    _ = write(STDERR_FILENO, notice.utf8Start, notice.utf8CodeUnitCount)
                    return
                }
                emergencyCleanup.unlinkAll()
                signal(received, SIG_DFL)
                raise(received)
            }
        }
    }

    /// Whether a stop was requested.
    static var stopRequested: Bool { interruptSignal.load(ordering: .relaxed) != 0 }

    /// Sleeps for `duration`, or less if a stop is requested meanwhile.
    static func sleep(_ duration: Duration) {
        let end = ContinuousClock.now + duration
        while !stopRequested {
            let left = end - ContinuousClock.now
            guard left > .zero else { return }
            sleepBriefly(min(left, slice))
        }
    }

    /// Suspends for `duration`, or less if a stop is requested meanwhile.
    static func sleep(_ duration: Duration) async throws {
        let end = ContinuousClock.now + duration
        while !stopRequested {
            let left = end - ContinuousClock.now
            guard left > .zero else { return }
            try await Task.sleep(for: min(left, slice))
        }
    }

    /// How often a sleeping hold looks for a stop request.
    private static var slice: Duration { .milliseconds(10) }
}

/// The files a second signal deletes, as C strings in memory allocated up front, because a
/// signal handler may not allocate or take locks.
let emergencyCleanup = EmergencyCleanup()

// Safety of the unchecked Sendable below: `storage` is written only by `register`, on the main thread, before the
// new slot count is published with release ordering; the signal handler reads only slots below
// the count it loads with acquire ordering, and a published slot never changes.
final class EmergencyCleanup: @unchecked Sendable {
    private static let slots = 8
    private static let slotSize = Int(PATH_MAX) + 1
    private let storage = UnsafeMutablePointer<CChar>.allocate(capacity: EmergencyCleanup.slots * EmergencyCleanup.slotSize)
    private let count = Atomic<Int>(0)

    /// Touches the global, so that its lazy initialisation is over before a handler can run.
    func prepare() {}

    /// Adds `path` to the files a second signal deletes. Main thread only. A path that does not
    /// fit (or more than eight) is left to the normal cleanup.
    func register(_ path: String) {
        let slot = count.load(ordering: .relaxed)
        let bytes = Array(path.utf8CString)
        guard slot < Self.slots, bytes.count <= Self.slotSize else { return }
        let destination = storage + slot * Self.slotSize
        bytes.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: bytes.count) }
        count.store(slot + 1, ordering: .releasing)
    }

    /// Deletes every registered file. Async-signal-safe.
    func unlinkAll() {
        let registered = count.load(ordering: .acquiring)
        for slot in 0..<registered { unlink(storage + slot * Self.slotSize) }
    }
}
