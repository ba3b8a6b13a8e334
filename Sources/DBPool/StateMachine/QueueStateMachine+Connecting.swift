/// Connecting: the `maxConnecting` and backoff gates every connect passes, pre-fill, the outcome
/// of each connect, and the slots closed records give back.
extension QueueStateMachine {
    /// Whether a new record may be connected now: a free slot, and ``mayStartConnect(now:)``.
    @inlinable
    func mayConnect(now: () -> Int64) -> Bool {
        hasFreeSlot && mayStartConnect(now: now)
    }

    /// Whether another connection attempt (a new record's or a reconnect) may start now: within
    /// `maxConnecting`, and, while backing off, one at a time and not before `retryAt`.
    @inlinable
    func mayStartConnect(now: () -> Int64) -> Bool {
        if backoff != nil && consecutiveFailures > 0 {
            guard connecting == 0 else { return false }
            if let retryAt, now() < retryAt { return false }
            return true
        }
        return connecting < maxConnecting
    }

    /// Whether a backoff is in force: connects are failing and a policy spaces the retries.
    @inlinable
    var isBackingOff: Bool { backoff != nil && consecutiveFailures > 0 }

    @inlinable
    mutating func reserveConnect() {
        open += 1
        connecting += 1
    }

    /// A pre-fill connection nobody asked for yet: `.create` with a slot and a permit taken, or
    /// `.none` if none may be opened now.
    @usableFromInline
    mutating func prefill() -> Action {
        guard phase == .running, mayConnect(now: timestamper.readStamp) else { return .none }
        reserveConnect()
        return Action(.create)
    }

    /// A reconnect that a checkout must make at once, in the middle of its checkout logic (a
    /// failed pre-ping): it is counted in `connecting` and reported like every connect, but not
    /// held back, since the checkout already holds its record.
    @usableFromInline
    mutating func reconnectStarted() -> Action {
        connecting += 1
        return .none
    }

    /// A connect the machine asked for finished. A new record joins the pool's records (and
    /// counts as a checkout if one is waiting for it); a failed new record gives its slot back.
    /// Failures feed the backoff and `lastConnectError` and schedule maintenance for the retry; a
    /// success ends the backoff. Queued waiters may then be given connect permits: they are woken.
    @usableFromInline
    mutating func connectFinished(_ outcome: ConnectOutcome, random: Double) -> Action {
        connecting -= 1
        var creatorFailure: (any Error)?
        switch outcome {
        case let .created(record, site):
            records[ObjectIdentifier(record)] = record
            record.noteCheckout(site: site)
            if site != nil { counters.checkouts += 1 }
        case .reconnected:
            break
        case let .failed(newRecord, failure):
            if newRecord { open -= 1 }
            creatorFailure = failure
        }
        let effects = Effects()
        connectAttempted(failure: creatorFailure, random: random)
        if creatorFailure != nil {
            // Maintenance schedules the backoff's retry (or, without one, tops `minIdle` up).
            effects.timer = .maintenance(at: retryAt ?? timestamper.readStamp())
        }
        effects.wake = grantPermits(now: timestamper.readStamp)
        return Action(.none, effects.orNil)
    }

    /// The outcome of any connect attempt, for the backoff: a failure counts and sets `retryAt`,
    /// a success ends the backoff (the caller then grants permits).
    @usableFromInline
    mutating func connectAttempted(failure: (any Error)?, random: Double) {
        if let failure {
            consecutiveFailures += 1
            lastConnectError = failure
            if let backoff {
                // Saturating: a wrapped sum would put a centuries-long backoff in the past.
                let (sum, overflowed) = timestamper.readStamp().addingReportingOverflow(
                    Timestamper.nanoseconds(in: backoff.delay(afterFailures: consecutiveFailures, random: random)))
                retryAt = overflowed ? .max : sum
            }
            return
        }
        consecutiveFailures = 0
        retryAt = nil
    }

    /// Records were closed and their slots given up. Queued waiters may now be given permits.
    @inlinable
    mutating func closed(_ closedRecords: [Record]) -> Action {
        open -= closedRecords.count
        for record in closedRecords { records[ObjectIdentifier(record)] = nil }
        return Action(.none, Effects.waking(grantPermits(now: timestamper.readStamp)))
    }
}
