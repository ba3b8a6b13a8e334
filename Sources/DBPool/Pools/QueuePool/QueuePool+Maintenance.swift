/// The maintenance thread's work: `minIdle` pre-fill and top-up, idle timeout, keep-alive
/// pings, backoff probes and leak reports.
extension QueuePool {
    func prefill() throws {
        let minIdle = context.options.minIdle
        guard minIdle > 0 else { return }
        for _ in 0..<minIdle {
            guard case .create = send({ $0.prefill() }) else { break }
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

    /// One maintenance pass: the machine's tick, carried out. Runs on the maintenance thread;
    /// returns when it next has work.
    func performMaintenance() -> MaintenanceThread.MaintenanceDue {
        let now = context.now()
        let threshold = context.options.leakDetectionThreshold
        let action = state.withLock { $0.tick(now: now, leakThreshold: threshold) }
        if case .fail = action.next { return .stop }
        guard let effects = action.effects else { return .idle }
        // The tick's timer is when this thread looks next, not a nudge to itself.
        let due = effects.timer.take()
        run(effects)
        if case let .maintenance(at)? = due { return .at(context.instant(fromStamp: at)) }
        return .idle
    }

    /// A keep-alive ping of an idle record the tick took out; a failed one invalidates it, and
    /// the machine decides whether it is reconnected at once.
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
            }
        }
        _ = send { $0.pinged(record, alive: failure == nil) }
    }
}
