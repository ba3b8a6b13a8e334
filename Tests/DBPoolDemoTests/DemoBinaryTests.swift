import XCTest
import Foundation
import DBPoolSQLite

/// Runs the built `dbpool-demo` binary: its password redaction, its one error line for an
/// unreachable server, and its answer to SIGTERM. It is looked up next to the
/// test bundle, in whatever build directory (`.build`, `.build-asan`) the tests were built in, or
/// at `DBPOOL_DEMO_BINARY`. When it is missing the tests skip, except under CI (`CI` or
/// `DBPOOL_REQUIRE_DEMO` set), where they fail.
final class DemoBinaryTests: XCTestCase {
    /// A run of the demo with its own temporary directory, so that what it leaves behind is
    /// exactly what is in that directory afterwards.
    // @unchecked Sendable: `stderrText` is only touched under `lock`; everything else is set in
    // init and then only read.
    final class DemoRun: @unchecked Sendable {
        let process = Process()
        let temporaryDirectory: URL
        private let errors = Pipe()
        private let lock = NSLock()
        private var stderrText = ""

        init(binary: URL, arguments: [String]) throws {
            temporaryDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("dbpool-demo-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: temporaryDirectory, withIntermediateDirectories: true)
            process.executableURL = binary
            process.arguments = arguments
            var environment = ProcessInfo.processInfo.environment
            environment["TMPDIR"] = temporaryDirectory.path + "/"
            // Under the address sanitizer the demo is instrumented too; its leak report at exit
            // would replace the exit status these tests check.
            environment["ASAN_OPTIONS"] = "detect_leaks=0"
            process.environment = environment
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            errors.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                if data.isEmpty { handle.readabilityHandler = nil }
                self?.append(data)
            }
            try process.run()
        }

        var stderr: String { lock.withLock { stderrText } }

        private func append(_ data: Data) {
            let text = String(decoding: data, as: UTF8.self)
            lock.withLock { stderrText += text }
        }

        /// The files the demo left in its temporary directory.
        var leftovers: [String] { (try? FileManager.default.contentsOfDirectory(atPath: temporaryDirectory.path)) ?? [] }

        /// Polls `condition` every 2 ms until it holds or `limit` passes.
        func wait(_ limit: Duration, until condition: () -> Bool) -> Bool {
            let end = ContinuousClock.now + limit
            while !condition() {
                if ContinuousClock.now >= end { return false }
                Thread.sleep(forTimeInterval: 0.002)
            }
            return true
        }

        /// Waits for the demo to exit, killing it after `limit`. Returns whether it exited in time.
        func waitForExit(_ limit: Duration) -> Bool {
            let exited = wait(limit, until: { !process.isRunning })
            if !exited { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            // The rest of standard error, which the handler may not have read yet.
            errors.fileHandleForReading.readabilityHandler = nil
            append(errors.fileHandleForReading.readDataToEndOfFile())
            return exited
        }

        /// Whether the SQLite run has committed a write, so that its only worker is in `--hold`.
        func isHolding() -> Bool {
            guard let file = leftovers.first(where: { $0.hasSuffix(".sqlite3") }),
                let connection = try? SQLiteConnection(path: temporaryDirectory.appendingPathComponent(file).path, busyTimeout: .milliseconds(50))
            else { return false }
            defer { try? connection.close() }
            let rows = try? connection.query("SELECT COUNT(*) FROM demo_ops")
            return (rows?.first?.first ?? nil).flatMap { Int($0) }.map { $0 > 0 } ?? false
        }

        deinit {
            try? FileManager.default.removeItem(at: temporaryDirectory)
        }
    }

    private func demoBinary() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["DBPOOL_DEMO_BINARY"] { return URL(fileURLWithPath: path) }
        let bundle = Bundle(for: Self.self).bundleURL
        let candidates = [bundle.deletingLastPathComponent(), bundle, Bundle.main.executableURL?.deletingLastPathComponent()]
        for directory in candidates.compactMap({ $0 }) {
            let binary = directory.appendingPathComponent("dbpool-demo")
            if FileManager.default.isExecutableFile(atPath: binary.path) { return binary }
        }
        let message = "dbpool-demo is not built next to the tests (\(bundle.path)); run swift build, or set DBPOOL_DEMO_BINARY"
        if environment["CI"] != nil || environment["DBPOOL_REQUIRE_DEMO"] != nil {
            XCTFail(message)
            throw XCTSkip(message)
        }
        throw XCTSkip(message)
    }

    /// A run that holds its one connection for 30 s after each operation, stopped once it holds.
    private func startHoldingRun() throws -> DemoRun {
        let run = try DemoRun(binary: try demoBinary(), arguments: ["--workers", "1", "--hold", "30000", "--duration", "60"])
        guard run.wait(.seconds(20), until: run.isHolding) else {
            _ = run.waitForExit(.zero)
            XCTFail("the demo never got to its hold; stderr: \(run.stderr)")
            throw XCTSkip("no hold")
        }
        return run
    }

    // MARK: Item 6: signals during --hold

    func testFirstSIGTERMCutsTheHoldShortAndCleansUp() throws {
        let run = try startHoldingRun()
        let signalled = ContinuousClock.now
        kill(run.process.processIdentifier, SIGTERM)
        // Without the fix the worker sleeps out its 30 s hold.
        XCTAssertTrue(run.waitForExit(.seconds(5)), "still running 5 s after SIGTERM; stderr: \(run.stderr)")
        XCTAssertLessThan(ContinuousClock.now - signalled, .seconds(5))
        XCTAssertEqual(run.process.terminationReason, .exit)
        XCTAssertEqual(run.process.terminationStatus, 143, "128 + SIGTERM; stderr: \(run.stderr)")
        XCTAssertEqual(run.leftovers, [], "the temporary SQLite files are deleted")
    }

    func testSecondSIGTERMStillDeletesTheTemporaryFiles() throws {
        let run = try startHoldingRun()
        kill(run.process.processIdentifier, SIGTERM)
        // Two signals sent back to back can merge into one; wait until the first was taken.
        _ = run.wait(.milliseconds(200)) { run.stderr.contains("stopping early") }
        kill(run.process.processIdentifier, SIGTERM)
        XCTAssertTrue(run.waitForExit(.seconds(5)), "still running after a second SIGTERM; stderr: \(run.stderr)")
        // Either the handler deleted the files and died of the signal, or the normal cleanup
        // won the race and exited with 143; both must leave nothing behind.
        let killed = run.process.terminationReason == .uncaughtSignal && run.process.terminationStatus == SIGTERM
        let exited = run.process.terminationReason == .exit && run.process.terminationStatus == 143
        XCTAssertTrue(killed || exited, "reason \(run.process.terminationReason.rawValue), status \(run.process.terminationStatus)")
        XCTAssertEqual(run.leftovers, [], "the temporary .sqlite3, -wal and -shm files are deleted")
    }

    // MARK: Items 5 and 8: --postgres that cannot connect

    func testFailedPostgresConnectPrintsOneErrorAndNoPassword() throws {
        let binary = try demoBinary()
        // Port 1 on loopback refuses at once; no server is needed.
        for url in [
            "postgresql://127.0.0.1:1/postgres?user=u&password=s3cret",
            "postgresql://u:s3cret@127.0.0.1:1/postgres",
            "host=127.0.0.1 port=1 user=u password = s3cret",
            "host=127.0.0.1 port=1 user=u password='s3cret two'"
        ] {
            let run = try DemoRun(binary: binary, arguments: ["--postgres", url, "--duration", "1"])
            XCTAssertTrue(run.waitForExit(.seconds(10)), url)
            XCTAssertEqual(run.process.terminationStatus, 1, "\(url): \(run.stderr)")
            let stderr = run.stderr
            XCTAssertTrue(stderr.contains("could not set up the PostgreSQL database"), "\(url): \(stderr)")
            XCTAssertFalse(stderr.contains("could not drop table"), "\(url): a second, misleading error: \(stderr)")
            XCTAssertFalse(stderr.contains("s3cret"), "\(url): the password is printed: \(stderr)")
        }
    }
}
