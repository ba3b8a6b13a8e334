import Dispatch
import Foundation
import Synchronization

/// A thread that stays alive between jobs, so that its identity is stable, and runs the jobs it
/// is given one at a time. `run` waits for the job with a bounded wait.
final class WorkerThread: Sendable {
    private enum Job {
        case work(@Sendable () -> Void)
        case stop
    }

    private final class ResultBox<T: Sendable>: Sendable {
        let value = Mutex<Result<T, any Error>?>(nil)
    }

    struct TimedOut: Error, CustomStringConvertible {
        var description: String { "worker thread did not finish its job in time" }
    }

    private let jobs = Mutex<[Job]>([])
    private let available = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init() {
        let thread = Thread { [self] in loop() }
        thread.start()
    }

    private func loop() {
        while true {
            available.wait()
            let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            switch job {
            case let .work(body)?: body()
            case .stop?: finished.signal(); return
            case nil: continue
            }
        }
    }

    /// Runs `body` on this thread and returns its result, waiting at most `timeout` seconds.
    func run<T: Sendable>(timeout: Double = 10, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        jobs.withLock {
            $0.append(
                .work {
                    let result = Result { try body() }
                    box.value.withLock { $0 = result }
                    done.signal()
                })
        }
        available.signal()
        guard done.wait(timeout: .now() + timeout) == .success else { throw TimedOut() }
        return try box.value.withLock { $0! }.get()
    }

    /// Ends the thread, waiting a bounded time for it.
    func stop() {
        jobs.withLock { $0.append(.stop) }
        available.signal()
        _ = finished.wait(timeout: .now() + 10)
    }
}
