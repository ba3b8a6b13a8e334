import DBPool
import DBPoolTesting
import Foundation
import XCTest

/// Differential test against SQLAlchemy's own QueuePool: Tests/Differential/sqlalchemy_traces.py
/// runs seeded random single-threaded sequences of operations on SQLAlchemy and records, per
/// operation, the events, the driver calls and the counters; this replays the same operations on
/// our QueuePool and compares each step. The script applies our deliberate differences to the
/// expected trace (its docstring lists them), so everything else must agree exactly.
///
/// Skipped when python3 or SQLAlchemy is missing, unless `CI` is set. `DBPOOL_DIFF_SEED` picks
/// another seed; `DBPOOL_DIFF_COUNT` more sequences.
final class DifferentialTests: XCTestCase {
    private struct Trace: Decodable {
        let sqlalchemy: String
        let sequences: [Sequence]
    }

    private struct Sequence: Decodable {
        let seed: Int
        let size: Int
        let overflow: Int
        let lifo: Bool
        let steps: [Step]
    }

    private struct Step: Decodable {
        let op: String
        let fairy: Int?
        let events: [[Field]]
        let calls: [[Field]]
        let checkedIn: Int
        let checkedOut: Int
        let overflow: Int
    }

    /// A JSON array element that is a string, an integer or null.
    private enum Field: Decodable, Equatable, CustomStringConvertible {
        case text(String), number(Int), null

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let number = try? container.decode(Int.self) {
                self = .number(number)
            } else {
                self = .text(try container.decode(String.self))
            }
        }

        var description: String {
            switch self {
            case let .text(text): text
            case let .number(number): "\(number)"
            case .null: "nil"
            }
        }
    }

    func testRandomSequencesAgreeWithSQLAlchemy() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["DBPOOL_DIFF_SEED"] ?? "1"
        let count = environment["DBPOOL_DIFF_COUNT"] ?? "100"
        let trace = try loadTrace(seed: seed, count: count)
        var failures: [String] = []
        for sequence in trace.sequences {
            if let failure = try replay(sequence) {
                failures.append("sequence seed \(sequence.seed) [QueuePool(\(sequence.size), \(sequence.overflow), lifo: \(sequence.lifo))]: \(failure)")
            }
        }
        XCTAssertEqual(failures, [], "against SQLAlchemy \(trace.sqlalchemy), --seed \(seed) --count \(count)")
    }

    private func loadTrace(seed: String, count: String) throws -> Trace {
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Differential/sqlalchemy_traces.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "--seed", seed, "--count", count]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            try skipUnlessCI("python3 is not available: \(error)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            if message.contains("No module named 'sqlalchemy'") || message.contains("No such file") {
                try skipUnlessCI("SQLAlchemy is not installed (pip install 'sqlalchemy==2.1.9')")
            }
            XCTFail("the trace script failed: \(message)")
        }
        return try JSONDecoder().decode(Trace.self, from: data)
    }

    private func skipUnlessCI(_ reason: String) throws {
        if ProcessInfo.processInfo.environment["CI"] == nil { throw XCTSkip(reason) }
        XCTFail(reason + "; CI is set, so the differential test must run")
    }

    /// Replays one sequence; the first step that disagrees, described, or nil.
    private func replay(_ sequence: Sequence) throws -> String? {
        let dbapi = MockDBAPI()
        let recorder = EventRecorder()
        let pool = try QueuePool(
            poolSize: sequence.size, maxOverflow: sequence.overflow, timeout: .milliseconds(10), useLIFO: sequence.lifo,
            options: PoolOptions(logHandler: .disabled), dialect: MockDialect(), creator: dbapi.creator())
        recorder.attach(to: pool.events)
        var fairies: [ConnectionFairy<MockConnection>?] = []
        var callsSeen: [Int: Int] = [:]
        defer {
            for fairy in fairies { fairy?.close() }
        }
        func index(of id: Int?) -> Field {
            guard let id, let i = dbapi.connections.firstIndex(where: { $0.id == id }) else { return .null }
            return .number(i)
        }
        for (n, step) in sequence.steps.enumerated() {
            recorder.clear()
            // Dropped before any local reference is taken, so that its deinit runs here.
            if step.op == "drop", let i = step.fairy { fairies[i] = nil }
            let fairy = step.fairy.flatMap { $0 < fairies.count ? fairies[$0] : nil }
            switch step.op {
            case "connect": fairies.append(try pool.connect())
            case "close": fairy?.close()
            case "invalidate": fairy?.invalidate()
            case "soft_invalidate": fairy?.invalidate(soft: true)
            case "record_invalidate": fairy?.record?.invalidate()
            case "detach": fairy?.detach()
            case "drop": break
            case "dispose": pool.dispose()
            default: return "step \(n): unknown operation \(step.op)"
            }
            let events = recorder.events.map { event in
                [Field.text(event.name), event.connectionWasNil ? .null : index(of: event.connectionID)]
            }
            var calls: [[Field]] = []
            for (i, connection) in dbapi.connections.enumerated() {
                let all = connection.calls
                for call in all.dropFirst(callsSeen[i] ?? 0) { calls.append([.number(i), .text(call)]) }
                callsSeen[i] = all.count
            }
            // Our calls are gathered per connection, SQLAlchemy's in time order; compare each
            // connection's calls in order.
            func byConnection(_ list: [[Field]]) -> [String: [Field]] {
                Dictionary(grouping: list, by: { $0[0].description }).mapValues { $0.map { $0[1] } }
            }
            var problems: [String] = []
            if events != step.events { problems.append("events \(events), expected \(step.events)") }
            if byConnection(calls) != byConnection(step.calls) { problems.append("driver calls \(calls), expected \(step.calls)") }
            let counters = (pool.checkedIn, pool.checkedOut, pool.overflow)
            if counters != (step.checkedIn, step.checkedOut, step.overflow) {
                problems.append("checkedIn/checkedOut/overflow \(counters), expected \((step.checkedIn, step.checkedOut, step.overflow))")
            }
            if !problems.isEmpty {
                let ops = sequence.steps.prefix(n + 1).map { "\($0.op)\($0.fairy.map { "(\($0))" } ?? "")" }
                return "step \(n) \(step.op): " + problems.joined(separator: "; ") + " after \(ops)"
            }
        }
        return nil
    }
}
