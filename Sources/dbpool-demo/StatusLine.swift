#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import Synchronization

/// Standard error, shared by the status line and the pool's log messages. One lock around every
/// write so that a log line never lands in the middle of a half-drawn status line.
final class Terminal: Sendable {
    /// Whether standard error is a terminal: then the status line is redrawn in place.
    let isTTY: Bool
    /// The status line currently on screen (TTY only), redrawn under a log line.
    private let shownStatus = Mutex<String?>(nil)

    init() {
        isTTY = isatty(STDERR_FILENO) == 1
    }

    /// Shows `line` as the status: in place on a terminal, as a new line otherwise.
    func status(_ line: String) {
        shownStatus.withLock { shown in
            if isTTY {
                let fitted = Self.fit(line)
                // "\r" and erase-to-end-of-line, so a shorter line leaves no tail of the longer one.
                Self.emit("\r\(fitted)\u{1B}[K")
                shown = fitted
            } else {
                Self.emit(line + "\n")
            }
        }
    }

    /// Prints a message line above the status line, then puts the status line back.
    func message(_ line: String) {
        shownStatus.withLock { shown in
            if isTTY, let status = shown {
                Self.emit("\r\u{1B}[K\(line)\n\(status)\u{1B}[K")
            } else {
                Self.emit(line + "\n")
            }
        }
    }

    /// Removes the status line for good, so that the summary starts on a clean line.
    func endStatus() {
        shownStatus.withLock { shown in
            if isTTY, shown != nil { Self.emit("\r\u{1B}[K") }
            shown = nil
        }
    }

    /// A line wider than the terminal wraps, and "\r" then returns only to the start of the last
    /// row, leaving a trail of stale lines; so the status is cut to the terminal's width.
    private static func fit(_ line: String) -> String {
        var size = winsize()
        let result = withUnsafeMutablePointer(to: &size) { ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), $0) }
        guard result == 0, size.ws_col > 1 else { return line }
        let width = Int(size.ws_col) - 1
        return line.count <= width ? line : String(line.prefix(width))
    }

    static func emit(_ text: String) {
        var text = scrubbedOfSecrets(text)
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = write(STDERR_FILENO, base + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// The pool figures the status line shows, read from the live pool.
struct PoolGauge: Sendable {
    var checkedOut: Int
    var overflow: Int
    var waiting: Int
}

/// Draws the live status line from its own thread until ``stop()``: every 250 ms on a terminal,
/// every second otherwise (a log file gets one readable line a second, not a flood).
final class StatusReporter: Sendable {
    private let terminal: Terminal
    private let stats: RunStats
    private let gauge: @Sendable () -> PoolGauge
    private let start: ContinuousClock.Instant
    private let plannedDuration: Duration
    private let showChaos: Bool
    private let stopped = Atomic<Bool>(false)
    private let thread = Mutex<WorkerThread?>(nil)

    init(
        terminal: Terminal, stats: RunStats, start: ContinuousClock.Instant, plannedDuration: Duration,
        showChaos: Bool, gauge: @escaping @Sendable () -> PoolGauge
    ) {
        self.terminal = terminal
        self.stats = stats
        self.start = start
        self.plannedDuration = plannedDuration
        self.showChaos = showChaos
        self.gauge = gauge
    }

    func begin() {
        let handle = WorkerThread.spawn(name: "dbpool-status") { [self] in run() }
        thread.withLock { $0 = handle }
    }

    /// Stops the reporter and waits for its thread, so that nothing is drawn after the summary.
    func stop() {
        stopped.store(true, ordering: .releasing)
        let handle = thread.withLock { thread -> WorkerThread? in
            defer { thread = nil }
            return thread
        }
        handle?.join()
        terminal.endStatus()
    }

    private func run() {
        let interval: Duration = terminal.isTTY ? .milliseconds(250) : .seconds(1)
        // Samples of (time, operations) over the last second, for a rate that reacts to what
        // happens now (a chaos strike, a stall) rather than averaging over the whole run.
        var window: [(ContinuousClock.Instant, Int)] = [(start, 0)]
        var next = start + interval
        while !stopped.load(ordering: .acquiring) {
            let now = ContinuousClock.now
            if now < next {
                sleepBriefly(min(next - now, .milliseconds(50)))
                continue
            }
            next += interval
            let operations = stats.operations.load(ordering: .relaxed)
            window.append((now, operations))
            while window.count > 2, now - window[1].0 >= .seconds(1) { window.removeFirst() }
            let (oldTime, oldOperations) = window[0]
            let span = seconds(now - oldTime)
            let rate = span > 0 ? Double(operations - oldOperations) / span : 0
            terminal.status(line(elapsed: now - start, operations: operations, rate: rate))
        }
    }

    private func line(elapsed: Duration, operations: Int, rate: Double) -> String {
        let pool = gauge()
        var text = "\(formatSeconds(elapsed, digits: 1))/\(formatSeconds(plannedDuration, digits: 1))s"
        text += "  ops \(grouped(operations))  \(grouped(Int(rate.rounded())))/s"
        // QueuePool.overflow is negative until the pool has made poolSize connections; "extra
        // connections in use" is what a reader expects here, so negatives show as 0.
        text += "  checked out \(pool.checkedOut)  overflow \(max(pool.overflow, 0))  waiting \(pool.waiting)"
        text += "  invalidated \(stats.invalidations.load(ordering: .relaxed))"
        text += "  errors \(stats.errors.load(ordering: .relaxed))"
        if showChaos { text += "  kills \(stats.chaosKills.load(ordering: .relaxed))" }
        return text
    }
}
