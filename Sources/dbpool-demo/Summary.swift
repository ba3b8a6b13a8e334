import DBPool

/// The end-of-run report, printed to standard output. Connection figures come from pool event
/// listeners and from the pool's own statistics (closes by reason, checkouts and waits); each label
/// says which.
struct Summary {
    var options: DemoOptions
    var backendName: String
    var location: String
    var result: RunResult
    var stats: RunStats

    func render() -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) {
            lines.append("  " + label.padding(to: 22) + value)
        }

        let operations = stats.operations.load(ordering: .relaxed)
        let writes = stats.writes.load(ordering: .relaxed)
        let errors = stats.errors.load(ordering: .relaxed)
        let created = stats.connectionsCreated.load(ordering: .relaxed)
        let invalidated = stats.invalidations.load(ordering: .relaxed)
        let closes = stats.closes.load(ordering: .relaxed)
        let closedDuringRun = result.closesBeforeDispose
        let elapsed = seconds(result.elapsed)

        lines.append("dbpool-demo summary\(result.interruptedBy.map { " (stopped early by \(signalName($0)))" } ?? "")")
        row("database", "\(backendName) \(location)")
        row(
            "workers",
            "\(options.workers) \(options.useAsync ? "async tasks" : "threads")"
                + (options.holdMilliseconds > 0 ? ", holding each connection \(options.holdMilliseconds) ms after its SQL" : ""))
        let limit = options.poolSize == 0 ? "no limit" : "poolSize \(options.poolSize), maxOverflow \(options.maxOverflow == -1 ? "no limit" : String(options.maxOverflow))"
        row(
            "pool",
            "QueuePool \(limit), timeout \(formatSeconds(.seconds(options.timeout)))s, "
                + "pre-ping \(options.effectivePrePing ? "on" : "off"), "
                + "recycle \(options.recycle.map { "\(formatSeconds(.seconds($0)))s" } ?? "never"), "
                + "chaos \(options.chaos ? "on" : "off")")
        row("run time", "\(formatSeconds(result.elapsed)) s")
        row("operations", "\(grouped(operations)) (\(grouped(writes)) writes, \(grouped(operations - writes)) reads)")
        row("errors", grouped(errors))
        row("throughput", "\(grouped(elapsed > 0 ? Int((Double(operations) / elapsed).rounded()) : 0)) ops/s")
        if let wait = result.waits.percentiles() {
            row(
                "checkout wait",
                "p50 \(formatMilliseconds(nanoseconds: wait.p50))  "
                    + "p99 \(formatMilliseconds(nanoseconds: wait.p99))  max \(formatMilliseconds(nanoseconds: wait.max))  "
                    + "(\(grouped(result.waits.samples.count)) checkouts)")
        } else {
            row("checkout wait", "no checkouts")
        }
        row("connections created", "\(grouped(created))  (connect events: first connections and replacements)")
        row("invalidated", "\(grouped(invalidated))  (invalidate events: disconnect errors, failed pre-pings)")
        // The pool counts its closes by reason, so recycles, invalidations and overflow
        // discards can be told apart.
        let reasons = CloseReason.allCases.compactMap { reason -> String? in
            let count = result.closesByReason[reason] ?? 0
            return count > 0 ? "\(grouped(count)) \(reason)" : nil
        }
        row("closed during run", "\(grouped(closedDuringRun))" + (reasons.isEmpty ? "" : "  (\(reasons.joined(separator: ", ")))"))
        row(
            "pool counters",
            "\(grouped(result.statistics.checkouts)) checkouts, \(grouped(result.statistics.waits)) waited, "
                + "\(grouped(result.statistics.timeouts)) timed out, max wait \(formatMilliseconds(nanoseconds: result.statistics.maxWaitTime.components.seconds * 1_000_000_000 + result.statistics.maxWaitTime.components.attoseconds / 1_000_000_000))"
        )
        row("closed at dispose", grouped(closes - closedDuringRun))
        row("still open", "\(grouped(created - closes))  (created - closed; 0 means nothing leaked)")
        row("pool at end", result.poolStatusAtEnd)
        if options.chaos {
            let kills = stats.chaosKills.load(ordering: .relaxed)
            let atFirstKill = stats.operationsAtFirstKill.load(ordering: .relaxed)
            var text = "\(grouped(kills)) connection\(kills == 1 ? "" : "s") killed"
            if atFirstKill >= 0 {
                text += "; \(grouped(operations - atFirstKill)) operations completed after the first kill"
            }
            row("chaos", text)
        }
        let breakdown = stats.errorBreakdown()
        if !breakdown.isEmpty {
            lines.append("  errors by message:")
            for (message, count) in breakdown {
                lines.append("    " + grouped(count).leftPadding(to: 8) + "  " + message)
            }
        }
        return lines.joined(separator: "\n")
    }
}

private func signalName(_ number: Int32) -> String {
    switch number {
    case 2: "SIGINT"
    case 15: "SIGTERM"
    default: "signal \(number)"
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }

    fileprivate func leftPadding(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
