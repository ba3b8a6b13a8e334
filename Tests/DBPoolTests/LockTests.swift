@testable import DBPool
import Foundation
import XCTest

// The pool's lock (Locked): mutual exclusion on the fast path, under contention, and on the
// path where a thread gives up spinning and sleeps until the holder wakes it.
final class LockTests: XCTestCase {
    /// Eight threads increment a plain counter inside the lock: no increment may be lost.
    func testContendedIncrementsAreNeverLost() {
        let locked = Locked(0)
        let threads = 8
        let perThread = 20_000
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for _ in 0..<perThread {
                locked.withLock { $0 += 1 }
            }
        }
        XCTAssertEqual(locked.withLock { $0 }, threads * perThread)
    }

    /// A holder that keeps the lock far longer than the spin phase makes the others sleep; they
    /// must not get in while it holds the lock, and must all be woken and finish afterwards.
    func testThreadsThatSleepOnTheLockAreWokenAndExcluded() {
        struct State { var holderInside = false; var enteredWhileHeld = 0; var entries = 0 }
        let locked = Locked(State())
        let holderIn = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        DispatchQueue.global().async(group: done) {
            locked.withLock { state in
                state.holderInside = true
                holderIn.signal()
                // Long enough for every contender to spin out and sleep.
                Thread.sleep(forTimeInterval: 0.03)
                state.holderInside = false
            }
        }
        holderIn.wait()
        for _ in 0..<4 {
            DispatchQueue.global().async(group: done) {
                locked.withLock { state in
                    if state.holderInside { state.enteredWhileHeld += 1 }
                    state.entries += 1
                }
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success, "a sleeping contender was never woken")
        let state = locked.withLock { $0 }
        XCTAssertEqual(state.enteredWhileHeld, 0)
        XCTAssertEqual(state.entries, 4)
        // Every sleeper has been woken and has left: the lock word is back to unlocked.
        XCTAssertEqual(locked.state.load(ordering: .relaxed), 0)
    }
}
