import XCTest
import Foundation
import DBPool
import DBPoolTesting

// Model-based randomized tests.
//
// A small reference model of the pools (ReferenceModel.swift: every pool kind's checkout and
// return, the record and fairy lifecycle, and the events each step fires) runs next to a real pool.
// Random sequences of operations (connect, close, special close, hard and soft invalidation,
// pool-wide invalidation, detach, dispose, recreate, clock advances, and driver faults: a failing
// connect, a dropped connection, a failing rollback/commit, a throwing close) are applied to both,
// and after every step the test compares:
//
// - the outcome (a fairy, the same fairy again for a nested SingletonThreadPool checkout, or
//   which error);
// - the events fired during the step, in order, with the connection each one carried;
// - which driver connection each holder has, and whether it is valid and detached;
// - how many times each driver connection has been closed, and how many connects were tried;
// - QueuePool's checkedIn / checkedOut / overflow / waiting.
//
// At the end of each sequence every holder closes, every pool instance is disposed, and every
// driver connection must have been closed exactly once.
//
// Each test runs several hundred sequences from fixed seeds and more from one fresh seed, which
// is printed. A failure names the sequence seed; replay it alone, with a step-by-step trace, by
// setting DBPOOL_MODEL_REPLAY=<sequence seed>.
//
// Deliberately outside the model (each would make a connection leak or close twice, so the
// generator avoids it):
// - detaching a record that other fairies share (StaticPool, AssertionPool after dispose);
// - recycle on StaticPool, whose one record is shared by every holder.

final class ModelBasedTests: XCTestCase {
    /// Fixed base seeds: the same sequences every run.
    private static let fixedSeeds: [UInt64] = [0x5EED_0001, 0x5EED_0002]
    private static let stepsPerSequence = 40

    /// One fresh base seed per process, printed once.
    private static let freshSeed: UInt64 = {
        if let text = ProcessInfo.processInfo.environment["DBPOOL_MODEL_SEED"], let seed = UInt64(text) { return seed }
        return UInt64.random(in: 0...UInt64.max)
    }()

    private func check(_ kind: ModelPoolKind, fixedPerSeed: Int, fresh: Int, file: StaticString = #filePath, line: UInt = #line) {
        if let text = ProcessInfo.processInfo.environment["DBPOOL_MODEL_REPLAY"], let seed = UInt64(text) {
            // Replay one sequence with a trace (for every kind; the seed fixes the configuration).
            do {
                let sequence = try ModelSequence(seed: seed, kind: kind, steps: Self.stepsPerSequence, trace: true)
                if let failure = sequence.run() { XCTFail(failure, file: file, line: line) }
            } catch {
                XCTFail("replay \(seed): \(error)", file: file, line: line)
            }
            return
        }
        print("[ModelBasedTests] \(kind.rawValue): fresh base seed \(Self.freshSeed) (replay all with DBPOOL_MODEL_SEED=\(Self.freshSeed))")
        var plan: [(base: UInt64, count: Int)] = Self.fixedSeeds.map { ($0, fixedPerSeed) }
        plan.append((Self.freshSeed, fresh))
        var failures = 0
        var sequences = 0
        var tally: [String: Int] = [:]
        defer {
            print("[ModelBasedTests] \(kind.rawValue): \(sequences) sequences; " + tally.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
        }
        for (base, count) in plan {
            for i in 0..<count {
                let seed = ChaosRandom.derive(base ^ UInt64(ModelPoolKind.allCases.firstIndex(of: kind)!), UInt64(i))
                sequences += 1
                do {
                    let sequence = try ModelSequence(seed: seed, kind: kind, steps: Self.stepsPerSequence, trace: false)
                    let failure = sequence.run()
                    tally.merge(sequence.tally, uniquingKeysWith: +)
                    if let failure {
                        failures += 1
                        XCTFail("base seed \(base), sequence \(i): \(failure)", file: file, line: line)
                    }
                } catch {
                    failures += 1
                    XCTFail("base seed \(base), sequence \(i), seed \(seed): pool creation threw \(error)", file: file, line: line)
                }
                if failures >= 3 { return }
            }
        }
        XCTAssertGreaterThan(sequences, 0)
    }

    func testQueuePoolAgainstModel() { check(.queue, fixedPerSeed: 500, fresh: 300) }
    func testNullPoolAgainstModel() { check(.null, fixedPerSeed: 300, fresh: 200) }
    func testStaticPoolAgainstModel() { check(.staticPool, fixedPerSeed: 300, fresh: 200) }
    func testAssertionPoolAgainstModel() { check(.assertion, fixedPerSeed: 300, fresh: 200) }
    func testSingletonThreadPoolAgainstModel() { check(.singletonThread, fixedPerSeed: 300, fresh: 200) }
}
