import XCTest
import Foundation

/// Leaks on purpose, to prove that the leak check in CI can fail.
///
/// Only with `DBPOOL_LEAK_PROBE=1`, which `scripts/lsan-probe` sets for a run of just these
/// tests under the address sanitizer with `.ci/lsan.supp`; that script fails unless
/// LeakSanitizer reports both leaks. Without the variable both tests skip and allocate nothing.
/// The sizes differ so that the script can tell which one was reported.
final class LeakProbeTests: XCTestCase {
    private var probing: Bool { ProcessInfo.processInfo.environment["DBPOOL_LEAK_PROBE"] == "1" }

    /// A test body on XCTest's main thread, the stack that `leak:libXCTest.so` used to hide.
    func testPlantedLeakInASyncTestBodyIsReported() throws {
        try XCTSkipUnless(probing, "set DBPOOL_LEAK_PROBE=1 (scripts/lsan-probe) to plant the leak")
        Self.plant(byteCount: 800)
    }

    /// An async test body, which XCTest runs inside awaitUsingExpectation's task.
    func testPlantedLeakInAnAsyncTestBodyIsReported() async throws {
        try XCTSkipUnless(probing, "set DBPOOL_LEAK_PROBE=1 (scripts/lsan-probe) to plant the leak")
        Self.plant(byteCount: 808)
    }

    /// Not inlined, so that no copy of the pointer outlives the call in the test's frame, where
    /// LeakSanitizer's conservative scan could find it and count the block as reachable.
    @inline(never)
    private static func plant(byteCount: Int) {
        let block = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 16)
        block.initializeMemory(as: UInt8.self, repeating: 0xAB, count: byteCount)
    }
}
