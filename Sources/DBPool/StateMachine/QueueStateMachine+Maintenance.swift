/// The maintenance tick: idle timeout, keep-alive, `minIdle` top-up, backoff probes and leak
/// reports.
extension QueueStateMachine {
    /// The maintenance tick at `now`: expire idle records, pick keep-alive pings, top up
    /// `minIdle`, retry connecting for queued waiters once a backoff has passed, and report
    /// connections held longer than `leakThreshold`. The action's timer says when the next tick
    /// is due (none: when something changes); once the pool is shut down it fails, and the
    /// maintenance thread stops. Idle records are ordered by the time they went idle (returns
    /// push at the back), so only the front is ever inspected: the tick costs O(work done), not
    /// O(idle records).
    @usableFromInline
    mutating func tick(now: ContinuousClock.Instant, leakThreshold: Duration?) -> Action {
        if phase == .shutDown { return Action(.fail(.shutDown)) }
        var work = Maintenance()
        if let leakThreshold { reportLeaks(now: now, threshold: leakThreshold, into: &work) }
        guard phase == .running else { return Action(.none, work.effects(timestamper)) }
        let stamp = timestamper.stamp(of: now)
        let clock = { stamp }
        if let idleTimeout {
            if keepAlive == nil {
                // Returns push at the back, so the front went idle first: only it is inspected.
                while idle.count > minIdle, let front = idle.peekFront(), let since = front.idleSince, now - since >= idleTimeout {
                    work.expired.append(idle.popFront()!)
                }
                if idle.count > minIdle, let front = idle.peekFront(), let since = front.idleSince {
                    work.nextDue = earliest(work.nextDue, since + idleTimeout)
                }
            } else {
                // Pinged records go back in at the back with their idle time running on, so the
                // store is ordered by last ping, not by last use: look at every record.
                work.expired = idle.remove(limit: Swift.max(0, idle.count - minIdle)) { record in
                    guard let since = record.idleSince else { return false }
                    return now - since >= idleTimeout
                }
                if idle.count > minIdle {
                    idle.forEach { record in
                        if let since = record.idleSince { work.nextDue = earliest(work.nextDue, since + idleTimeout) }
                    }
                }
            }
        }
        if let keepAlive {
            // Ordered by last ping (or return): only the front can be due first.
            while let front = idle.peekFront(), let since = front.lastPinged, now - since >= keepAlive {
                work.ping.append(idle.popFront()!)
            }
            if let front = idle.peekFront(), let since = front.lastPinged {
                work.nextDue = earliest(work.nextDue, since + keepAlive)
            }
        }
        // minIdle counts connections ready to use, not records: an idle record whose connection
        // was invalidated is reconnected rather than left counting.
        var live = 0
        if minIdle > 0 { idle.forEach { if $0.hasConnection { live += 1 } } }
        if minIdle > 0 {
            while waiters.isEmpty, live + connecting + work.ping.count < minIdle, mayStartConnect(now: clock) {
                if hasFreeSlot {
                    reserveConnect()
                    work.create += 1
                } else if let empty = idle.remove(limit: 1, where: { !$0.hasConnection }).first {
                    connecting += 1
                    work.reconnect.append(empty)
                } else {
                    break
                }
            }
        }
        if isBackingOff, !waiters.isEmpty, mayStartConnect(now: clock) {
            // The backoff has passed: one probe connection, made here, for the queue; in a new
            // slot, or in an idle record that needs one when the pool is full.
            if hasFreeSlot {
                reserveConnect()
                work.create += 1
            } else if let record = popIdle() {
                connecting += 1
                work.reconnect.append(record)
            }
        }
        work.woken = grantPermits(now: clock)
        if let retryAt, !waiters.isEmpty || live < minIdle {
            work.nextDue = earliest(work.nextDue, timestamper.instant(fromStamp: retryAt))
        }
        return Action(.none, work.effects(timestamper))
    }

    /// Notes each connection held longer than `threshold` once per checkout, for the log.
    @usableFromInline
    func reportLeaks(now: ContinuousClock.Instant, threshold: Duration, into work: inout Maintenance) {
        for record in records.values {
            guard let since = record.checkoutTime, !record.leakReported else { continue }
            if now - since >= threshold {
                record.leakReported = true
                work.leaks.append(CheckedOutConnection(site: record.checkoutSite, age: now - since))
            } else {
                work.nextDue = earliest(work.nextDue, since + threshold)
            }
        }
    }

    /// What one tick found to do, gathered as it goes.
    @usableFromInline
    struct Maintenance {
        @usableFromInline var expired: [Record] = []
        @usableFromInline var ping: [Record] = []
        @usableFromInline var create = 0
        @usableFromInline var reconnect: [Record] = []
        @usableFromInline var woken: [Wakeup<Record>] = []
        @usableFromInline var leaks: [CheckedOutConnection] = []
        @usableFromInline var nextDue: ContinuousClock.Instant?

        @inlinable init() {}

        @usableFromInline
        func effects(_ timestamper: Timestamper) -> Effects? {
            let effects = Effects(wake: woken)
            effects.close = expired
            effects.closeReason = .idleTimeout
            effects.ping = ping
            effects.create = create
            effects.reconnect = reconnect
            effects.leaks = leaks
            effects.timer = nextDue.map { .maintenance(at: timestamper.stamp(of: $0)) }
            return effects.orNil
        }
    }

    @usableFromInline
    func earliest(_ a: ContinuousClock.Instant?, _ b: ContinuousClock.Instant) -> ContinuousClock.Instant {
        guard let a else { return b }
        return Swift.min(a, b)
    }
}
