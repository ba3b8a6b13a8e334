import Foundation
import DBPool
import DBPoolTesting

enum Harness {
    /// Runs `body(i)` on `count` real threads at once and waits (bounded) for all of them.
    /// Returns false if they did not all finish within `limit`.
    @discardableResult
    static func onThreads(_ count: Int, limit: Duration = .seconds(60), _ body: @escaping @Sendable (Int) -> Void) -> Bool {
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            let thread = Thread {
                body(i)
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        let seconds = Double(limit.components.seconds)
        return group.wait(timeout: .now() + seconds) == .success
    }

    /// Polls `condition` until it holds or `limit` passes; for waiting on another thread's state,
    /// never for letting time pass. A positive wait returns as soon as the condition holds, so
    /// its limit may be generous. Asserting that it returns false ("nothing happens within the
    /// window") costs the whole window on every run: keep such a window under 100 ms, and leave
    /// "not before its time" to the state-machine tests (Tests/DBPoolTests/StateMachine), which
    /// can say it without waiting.
    static func eventually(_ limit: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if condition() { return true }
            usleep(200)
        }
        return condition()
    }

    /// The async form of ``eventually(_:_:)``: polls without blocking a cooperative thread, for
    /// state that the pool's driver threads finish after an async caller's `close()` returned.
    static func waitUntil(_ limit: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .microseconds(200))
        }
        return condition()
    }

    /// Starts `body` on a new thread; the returned group is left when it finishes.
    static func spawn(_ body: @escaping @Sendable () -> Void) -> DispatchGroup {
        let group = DispatchGroup()
        group.enter()
        Thread {
            body()
            group.leave()
        }.start()
        return group
    }
}

extension DispatchGroup {
    /// Waits up to `seconds`; true if the group finished.
    func finished(within seconds: Double = 10) -> Bool {
        wait(timeout: .now() + seconds) == .success
    }
}

/// A quiet log handler for tests that do not assert logging.
let quietOptions = PoolOptions(logHandler: .disabled)

extension LogRecorder {
    /// The texts of the messages logged at exactly `level`.
    func texts(at level: PoolLogLevel) -> [String] {
        messages.filter { $0.level == level }.map(\.message)
    }

    /// The texts of the messages logged at `level` or above.
    func texts(atLeast level: PoolLogLevel) -> [String] {
        messages.filter { $0.level >= level }.map(\.message)
    }
}
