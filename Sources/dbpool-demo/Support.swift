import DBPoolDemoSupport
import Dispatch
import Foundation
import Synchronization

/// The passwords of `--postgres`, hidden in everything the demo prints: libpq's error messages
/// can quote parts of a connection string.
let outputSecrets = Mutex<[String]>([])

/// `text` with the passwords of `--postgres` masked.
func scrubbedOfSecrets(_ text: String) -> String {
    let secrets = outputSecrets.withLock { $0 }
    return secrets.isEmpty ? text : ConnectionStringRedaction.scrub(text, secrets: secrets)
}

/// A dedicated OS thread that can be joined. Workers, the status line and the chaos driver each
/// get one, because they block (in `pool.connect()`, in SQLite's busy wait, in `sleep`), and
/// blocking work belongs on threads of its own, not on Dispatch's or Swift's shared pools.
final class WorkerThread: Sendable {
    private let finished = DispatchSemaphore(value: 0)

    private init() {}

    /// Starts `body` on a new thread.
    static func spawn(name: String, _ body: @escaping @Sendable () -> Void) -> WorkerThread {
        let handle = WorkerThread()
        let thread = Thread {
            body()
            handle.finished.signal()
        }
        thread.name = name
        thread.start()
        return handle
    }

    /// Waits until the thread's body has returned.
    func join() {
        finished.wait()
    }
}

/// Sleeps the calling thread.
func sleepBriefly(_ duration: Duration) {
    Thread.sleep(forTimeInterval: seconds(duration))
}

/// A duration in seconds, as a `Double`.
func seconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) + Double(attoseconds) / 1e18
}

/// `12.3`-style seconds.
func formatSeconds(_ duration: Duration, digits: Int = 2) -> String {
    String(format: "%.\(digits)f", seconds(duration))
}

/// `12,345`: large counts are read at a glance only with separators.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, digit) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
        result.append(digit)
    }
    return value < 0 ? "-" + result : result
}

/// A wait time given in nanoseconds, in milliseconds with enough digits to tell an immediate
/// checkout (a few microseconds) from a real wait.
func formatMilliseconds(nanoseconds: Int64) -> String {
    let milliseconds = Double(nanoseconds) / 1e6
    if milliseconds < 10 { return String(format: "%.3f ms", milliseconds) }
    if milliseconds < 1000 { return String(format: "%.1f ms", milliseconds) }
    return String(format: "%.0f ms", milliseconds)
}

/// `text` on one line: driver messages (libpq's in particular) span several lines, which would
/// break the status line and the summary's table.
func singleLine(_ text: String) -> String {
    text.split(whereSeparator: { $0.isNewline || $0 == "\t" }).map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }.joined(separator: " ")
}
