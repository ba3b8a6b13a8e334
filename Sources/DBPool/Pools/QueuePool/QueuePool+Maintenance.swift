/// The maintenance thread's work: `minIdle` pre-fill and top-up, idle timeout, keep-alive
/// pings, backoff probes and leak reports.
extension QueuePool {
    func prefill() throws {
        let minIdle = context.options.minIdle
        guard minIdle > 0 else { return }
        for _ in 0..<minIdle {
            guard state.withLock({ $0.reserveConnectSlot() }) else { break }
            do {
                let record = try createRecord(site: nil)
                returnRecord(record)
            } catch {
                if context.options.failFast {
                    dispose()
                    throw error
                }
                context.log(.error, "Pre-filling the pool failed; the maintenance thread will retry", error: error)
                break
            }
        }
    }

    func startMaintenance() {
        guard let maintenance else { return }
        // The thread's tick holds the pool weakly, so the thread never keeps the pool alive.
        let tick: MaintenanceThread.Tick = { [weak self] in
            guard let self else { return .stop }
            return self.performMaintenance()
        }
        maintenance.start(tick: tick)
    }

    /// One maintenance pass: idle timeout, keep-alive pings, `minIdle` top-up, backoff retries,
    /// leak reports. Runs on the maintenance thread; returns when it next has work.
    func performMaintenance() -> MaintenanceThread.MaintenanceDue {
        let now = context.stamp()
        let (work, phase) = state.withLock { machine in (machine.maintain(now: now), machine.phase) }
        if phase == .shutDown { return .stop }
        wake(work.woken)
        for record in work.expired {
            context.log(.info, "Closing a connection idle for longer than idleTimeout")
            record.close(reason: .idleTimeout)
        }
        closed(work.expired)
        for record in work.ping { keepAlive(record) }
        for _ in 0..<work.create {
            if let record = try? createRecord(site: nil) {
                returnRecord(record)
            }
        }
        for record in work.reconnect {
            reconnectInBackground(record)
            returnRecord(record)
        }
        let leakDue = reportLeaks(now: now)
        switch (work.nextDue, leakDue) {
        case let (a?, b?): return .at(min(a, b))
        case let (a?, nil), let (nil, a?): return .at(a)
        case (nil, nil): return .idle
        }
    }

    func keepAlive(_ record: Record) {
        var failure: (any Error)?
        if let connection = record.dbapiConnection {
            do {
                if try !context.ping(connection) { failure = DisconnectionError(invalidatePool: false) }
            } catch {
                failure = error
            }
            if let failure {
                context.log(.info, "Keep-alive ping failed; replacing the connection", error: failure)
                record.invalidate(failure)
                // The replacement is a connect like any other: within maxConnecting and the
                // backoff, or else left to the next checkout or minIdle top-up.
                if state.withLock({ $0.tryStartReconnect() }) { reconnectInBackground(record) }
            }
        }
        if failure == nil {
            finishReturn(state.withLock { $0.release(record, pinged: true) })
        } else {
            returnRecord(record)
        }
    }

    /// Logs, once per checkout, each connection held longer than `leakDetectionThreshold`.
    /// Returns when the next report could be due.
    func reportLeaks(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let threshold = context.options.leakDetectionThreshold else { return nil }
        let (leaks, nextDue): ([(CheckoutSite?, Duration)], ContinuousClock.Instant?) = state.withLock { machine in
            var leaks: [(CheckoutSite?, Duration)] = []
            var nextDue: ContinuousClock.Instant?
            for record in machine.records.values {
                guard let since = record.checkoutTime, !record.leakReported else { continue }
                if now - since >= threshold {
                    record.leakReported = true
                    leaks.append((record.checkoutSite, now - since))
                } else {
                    nextDue = min(nextDue ?? since + threshold, since + threshold)
                }
            }
            return (leaks, nextDue)
        }
        for (site, age) in leaks {
            context.log(
                .warning, "Possible connection leak: a connection checked out at \(site?.description ?? "an unknown site") has been held for \(age), longer than leakDetectionThreshold (\(threshold))")
        }
        return nextDue
    }
}
