import Dispatch

/// Waiting at the limit: the blocking and async waits, their deadlines on the pool's clock, the
/// one deadline timer for async waiters, cancellation, and the timeout error that says why.
extension QueuePool {
    /// Everything but an idle record at the first look: create, wait, or fail.
    @usableFromInline
    func acquireRecord(site: CheckoutSite, after first: Machine.Acquire) throws -> Record {
        switch first {
        case let .record(record): return record
        case .create: return try createRecord(site: site)
        case let .reconnect(record): return try reconnectForCheckout(record)
        case .shutDown: throw PoolError.shutDown
        case .wait: break
        }
        // The deadline is taken once, on the pool's clock, so that every later wake-up measures
        // against it.
        let start = waitStamp()
        let deadline = waitDeadline(from: start)
        let semaphore = DispatchSemaphore(value: 0)
        let waiter = Waiter<Record>(kind: .blocking(semaphore), site: site)
        switch state.withLock({ $0.acquire(enqueueing: waiter, site: site) }) {
        case let .record(record): return record
        case .create: return try createRecord(site: site)
        case let .reconnect(record): return try reconnectForCheckout(record)
        case .shutDown: throw PoolError.shutDown
        case .wait: break
        }
        // Every wake-up, and the deadline, is followed by a look under the lock: the waiter may
        // have been handed a record, woken to take an idle one, or be out of time. A signal that
        // arrives after the look that used it stays in the semaphore, which is then dropped.
        while true {
            let timedOut = semaphore.wait(timeout: realWaitLimit(until: deadline)) == .timedOut && deadline.map { waitStamp() >= $0 } == true
            let (next, woken, error): (Machine.Woken, [Waiter<Record>], PoolError?) = state.withLock { machine in
                let (next, woken) = machine.blockingWaiterWoke(waiter, timedOut: timedOut)
                guard case .timedOut = next else { return (next, woken, nil) }
                machine.recordWait(.nanoseconds(waitStamp() &- start), timedOut: true)
                return (next, woken, timeoutError(machine))
            }
            wake(woken)
            switch next {
            case .granted:
                return try use(waiter, waitingSince: start, site: site)
            case .keepWaiting:
                continue
            case .timedOut:
                logTimeout()
                throw error!
            }
        }
    }

    @usableFromInline
    func acquireRecordAsync(site: CheckoutSite, after first: Machine.Acquire) async throws -> Record {
        switch first {
        case let .record(record): return record
        case .create: return try createRecord(site: site)
        case let .reconnect(record): return try reconnectForCheckout(record)
        case .shutDown: throw PoolError.shutDown
        case .wait: break
        }
        let start = waitStamp()
        let waiter = Waiter<Record>(kind: .async, site: site)
        waiter.deadline = waitDeadline(from: start)
        _ = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (outcome, startTimer): (Result<Machine.Acquire, any Error>, Bool) = state.withLock { machine in
                    // A cancellation that arrived before the waiter was queued.
                    if let failure = waiter.failure { return (.failure(failure), false) }
                    let outcome = machine.acquire(enqueueing: waiter, site: site)
                    var startTimer = false
                    switch outcome {
                    case .wait:
                        waiter.continuation = continuation
                        if waiter.deadline != nil { startTimer = machine.watchDeadline(of: waiter) }
                    case let .record(record):
                        waiter.grant = .record(record)
                        waiter.grantedWithoutWaiting = true
                    case .create:
                        waiter.grant = .permit
                        waiter.grantedWithoutWaiting = true
                    case let .reconnect(record):
                        waiter.grant = .reconnect(record)
                        waiter.grantedWithoutWaiting = true
                    case .shutDown:
                        break
                    }
                    return (.success(outcome), startTimer)
                }
                if startTimer, let deadline = waiter.deadline { startDeadlineTimer(firstDeadline: deadline) }
                switch outcome {
                case let .failure(error):
                    continuation.resume(throwing: error)
                case .success(.record), .success(.create), .success(.reconnect):
                    continuation.resume()
                case .success(.shutDown):
                    continuation.resume(throwing: PoolError.shutDown)
                case .success(.wait):
                    break
                }
            }
        } onCancel: {
            self.abandon(waiter, waitingSince: start)
        }
        return try use(waiter, waitingSince: start, site: site)
    }

    // MARK: Wait time
    //
    // Waits are measured on the pool's clock, as every other time in the pool: as stamps (see
    // Timestamper) read from its fine clock. With the system clock that is real time; with a
    // clock a test moves by hand (DBPoolTesting's ManualClock), waiters poll it every few
    // milliseconds of real time, so advancing it past a deadline times the waiter out without
    // the test waiting for real.

    /// Now, as a wait stamp: a reading of the pool's clock (fine resolution).
    func waitStamp() -> Int64 { context.timestamper.preciseNanoseconds() }

    /// The deadline of a wait that starts at `start`, or `nil` to wait forever: without a
    /// timeout, and for a timeout so long that its deadline would not fit (beyond about 292
    /// years), where a timer would only sleep for ever.
    func waitDeadline(from start: Int64) -> Int64? {
        guard let timeout else { return nil }
        let (deadline, overflowed) = start.addingReportingOverflow(Timestamper.nanoseconds(timeout))
        return overflowed || deadline == .max ? nil : deadline
    }

    /// How long a blocked thread may sleep before it looks at its deadline again.
    func realWaitLimit(until deadline: Int64?) -> DispatchTime {
        guard let deadline else { return .distantFuture }
        let delay = Self.realDelay(until: deadline, context: context)
        return .now() + .nanoseconds(Int(clamping: Timestamper.nanoseconds(delay)))
    }

    /// The real time to sleep before the pool's clock may have reached `deadline` (a stamp): the
    /// time left with the system clock, a short poll with a clock that tests move by hand.
    static func realDelay(until deadline: Int64, context: PoolContext<Connection>) -> Duration {
        let stamper = context.timestamper
        guard stamper.usesSystemClock else {
            return context.options.clock.realDelay(until: stamper.instant(fromStamp: deadline))
        }
        // Fine system-clock stamps are real time: the time left is the difference.
        return .nanoseconds(Swift.max(0, deadline &- stamper.preciseNanoseconds()))
    }

    /// The pool's one timer for async waiters' deadlines (see ``WaiterList``): it sleeps until
    /// the oldest watched waiter's deadline, fails every waiter whose deadline has passed, and
    /// sleeps again until the next, stopping once nobody is watched. A waiter that leaves earlier
    /// only makes it wake for nothing once. It holds the pool's parts, not the pool, so a pool
    /// whose last waiter has gone is freed without waiting for the timer.
    func startDeadlineTimer(firstDeadline: Int64) {
        let state = self.state, context = self.context, size = self.size, timeout = self.timeout ?? .zero
        Task {
            var deadline = firstDeadline
            while true {
                do {
                    try await Task.sleep(for: Self.realDelay(until: deadline, context: context))
                } catch {
                    // Nobody cancels this task; if something did, looking now is still correct.
                }
                let now = context.timestamper.preciseNanoseconds()
                guard now >= deadline else { continue }
                let (failed, woken, next, error) = state.withLock { machine in
                    let (expired, woken, next) = machine.expireDeadlines(now: now)
                    var failed: [CheckedContinuation<Void, any Error>] = []
                    for waiter in expired {
                        machine.recordWait(timeout + .nanoseconds(now &- (waiter.deadline ?? now)), timedOut: true)
                        if let continuation = waiter.continuation { failed.append(continuation) }
                        waiter.continuation = nil
                    }
                    return (failed, woken, next, Self.timeoutError(machine, size: size, timeout: timeout))
                }
                for waiter in woken { waiter.wake() }
                if !failed.isEmpty { Self.logTimeout(state: state, context: context, size: size) }
                for continuation in failed { continuation.resume(throwing: error) }
                guard let next else { return }
                deadline = next
            }
        }
    }

    /// A waiter's task is cancelled. If it is still queued it leaves the queue in O(1) and its
    /// continuation fails; if it was already granted something, nothing happens and the grant is
    /// delivered as usual.
    func abandon(_ waiter: Waiter<Record>, waitingSince start: Int64) {
        let (resume, woken): (CheckedContinuation<Void, any Error>?, [Waiter<Record>]) = state.withLock { machine in
            if machine.remove(waiter) {
                machine.recordWait(.nanoseconds(waitStamp() &- start), timedOut: false)
                let continuation = waiter.continuation
                waiter.continuation = nil
                // Leaving the head may leave idle records that the new head should hear of.
                return (continuation, machine.settle())
            }
            if !waiter.wasQueued && waiter.grant == nil && waiter.failure == nil {
                waiter.failure = CancellationError()
            }
            return (nil, [])
        }
        wake(woken)
        resume?.resume(throwing: CancellationError())
    }

    func timeoutError(_ machine: Machine) -> PoolError {
        Self.timeoutError(machine, size: size, timeout: timeout ?? .zero)
    }

    static func timeoutError(_ machine: Machine, size: Int, timeout: Duration) -> PoolError {
        let detail = PoolTimeoutDetail(
            checkedOut: machine.checkedOut, idle: machine.checkedIn, waiting: machine.waiting, connecting: machine.connecting,
            lastConnectError: machine.consecutiveFailures > 0 ? machine.lastConnectError : nil)
        return PoolError.timeout(size: size, overflow: machine.overflow, timeout: timeout, detail: detail)
    }

    func logTimeout() {
        Self.logTimeout(state: state, context: context, size: size)
    }

    /// The timeout error keeps SQLAlchemy's exact text and shape; the reasons behind it (pool
    /// state, queue length, the last connect error, telling "exhausted" from "database down") go
    /// to the log and to ``statistics``.
    static func logTimeout(state: Locked<Machine>, context: PoolContext<Connection>, size: Int) {
        guard context.logHandler.isEnabled(.warning) else { return }
        let (checkedIn, overflow, checkedOut, waiting, lastError, failing) = state.withLock { machine in
            (machine.checkedIn, machine.overflow, machine.checkedOut, machine.waiting, machine.lastConnectError, machine.consecutiveFailures > 0)
        }
        let cause = failing ? "the database is refusing connections" : "every connection is in use"
        let status = status(size: size, checkedIn: checkedIn, overflow: overflow, checkedOut: checkedOut)
        context.log(.warning, "Checkout timed out: \(cause); \(checkedOut) checked out, \(waiting) still waiting. \(status)", error: failing ? lastError : nil)
    }

    /// Turns what a woken waiter was granted into a record, and counts the wait.
    func use(_ waiter: Waiter<Record>, waitingSince start: Int64, site: CheckoutSite) throws -> Record {
        // The grant is read under the lock it was written under. The waker's resume orders it
        // too, but a task resumed before it had finished suspending is released by the
        // concurrency runtime's own atomics, which the thread sanitizer does not see (it then
        // reports the grant as a race); one lock per waited checkout makes the order plain.
        let waited = Duration.nanoseconds(waitStamp() &- start)
        let (grant, failure): (Waiter<Record>.Grant?, (any Error)?) = state.withLock { machine in
            // Served at once on the second look, after the fast path found nothing: no wait (and
            // the record was counted as a checkout when it was granted, as every grant is).
            if waiter.grant != nil && !waiter.grantedWithoutWaiting { machine.recordWait(waited, timedOut: false) }
            return (waiter.grant, waiter.failure)
        }
        guard let grant else { throw failure ?? PoolError.connectionClosed }
        switch grant {
        case let .record(record): return record
        case .permit: return try createRecord(site: site)
        case let .reconnect(record): return try reconnectForCheckout(record)
        }
    }
}
