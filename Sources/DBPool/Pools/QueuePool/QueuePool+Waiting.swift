import Dispatch

/// Waiting at the limit: the blocking and async waits, their deadlines on the pool's clock, the
/// one deadline timer for async waiters, cancellation, and the timeout error that says why.
extension QueuePool {
    /// Everything but an idle record at the first look: create, wait, or fail.
    @usableFromInline
    func acquireRecord(site: CheckoutSite, after first: Machine.Next) throws -> Record {
        if let record = try resolve(first, site: site) { return record }
        // The deadline is taken once, on the pool's clock, so that every later wake-up measures
        // against it.
        let start = readWaitStamp()
        let deadline = waitDeadline(from: start)
        let semaphore = DispatchSemaphore(value: 0)
        let waiter = Waiter<Record>(kind: .blocking(semaphore), site: site, startedAt: start)
        if let record = try resolve(send({ $0.acquire(enqueueing: waiter) }), site: site) { return record }
        // Every wake-up, and the deadline, is followed by a look under the lock: the waiter may
        // have been handed a record, woken to take an idle one, or be out of time. A signal that
        // arrives after the look that used it stays in the semaphore, which is then dropped.
        while true {
            let timedOut = semaphore.wait(timeout: realWaitLimit(until: deadline)) == .timedOut && deadline.map { readWaitStamp() >= $0 } == true
            if let record = try resolve(send({ $0.blockingWaiterWoke(waiter, timedOut: timedOut) }), site: site) { return record }
        }
    }

    @usableFromInline
    func acquireRecordAsync(site: CheckoutSite, after first: Machine.Next) async throws -> Record {
        guard let record = try await resolve(awaitGrant(site: site, after: first), site: site) else { throw PoolError.connectionClosed }
        return record
    }

    /// The async wait: `first` unless it is `.wait`, else what the queued waiter is granted (or
    /// its failure, thrown). Makes no driver call. Inlinable, so that it and the events it
    /// sends are specialised for the connection type: every checkout that waits runs it.
    @inlinable
    func awaitGrant(site: CheckoutSite, after first: Machine.Next) async throws -> Machine.Next {
        guard case .wait = first else { return first }
        let start = readWaitStamp()
        let waiter = Waiter<Record>(kind: .async, site: site, startedAt: start, deadline: waitDeadline(from: start))
        // The second look runs where the continuation exists, so that queueing the waiter and
        // keeping its continuation are one step under the lock. Served at once, it resumes
        // itself and goes on with what it was given.
        var next = Machine.Next.wait
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                next = send { $0.acquire(enqueueing: waiter, continuation: continuation) }
                if case .wait = next { return }
                continuation.resume()
            }
        } onCancel: {
            _ = self.send { $0.cancel(waiter) }
        }
        // Woken with a grant (a failure resumes the continuation with its error): claim it.
        if case .wait = next { next = send { $0.claim(waiter) } }
        return next
    }

    // MARK: Wait time
    //
    // Waits are measured on the pool's clock, as every other time in the pool: as stamps (see
    // Timestamper) read from its fine clock. With the system clock that is real time; with a
    // clock a test moves by hand (DBPoolTesting's ManualClock), waiters poll it every few
    // milliseconds of real time, so advancing it past a deadline times the waiter out without
    // the test waiting for real.

    /// Now, as a wait stamp: a reading of the pool's clock (fine resolution).
    @usableFromInline
    func readWaitStamp() -> Int64 { context.timestamper.readPreciseStamp() }

    /// The deadline of a wait that starts at `start`, or `nil` to wait forever: without a
    /// timeout, and for a timeout so long that its deadline would not fit (beyond about 292
    /// years), where a timer would only sleep for ever.
    @usableFromInline
    func waitDeadline(from start: Int64) -> Int64? {
        guard let timeout else { return nil }
        let (deadline, overflowed) = start.addingReportingOverflow(Timestamper.nanoseconds(in: timeout))
        return overflowed || deadline == .max ? nil : deadline
    }

    /// How long a blocked thread may sleep before it looks at its deadline again.
    func realWaitLimit(until deadline: Int64?) -> DispatchTime {
        guard let deadline else { return .distantFuture }
        let delay = Self.realDelay(until: deadline, context: context)
        return .now() + .nanoseconds(Int(clamping: Timestamper.nanoseconds(in: delay)))
    }

    /// The real time to sleep before the pool's clock may have reached `deadline` (a stamp): the
    /// time left with the system clock, a short poll with a clock that tests move by hand.
    static func realDelay(until deadline: Int64, context: PoolContext<Connection>) -> Duration {
        let stamper = context.timestamper
        guard stamper.usesSystemClock else {
            return context.options.clock.realDelay(until: stamper.instant(fromStamp: deadline))
        }
        // Fine system-clock stamps are real time: the time left is the difference.
        return .nanoseconds(Swift.max(0, deadline &- stamper.readPreciseStamp()))
    }

    /// The pool's one timer for async waiters' deadlines (see ``WaiterList``): it sleeps until
    /// the oldest watched waiter's deadline, then reports ``QueueStateMachine/expire(now:)``,
    /// whose action fails every waiter whose deadline has passed and starts the timer again for
    /// the next one, if anyone is still watched. A waiter that leaves earlier only makes it wake
    /// for nothing once. It holds the pool weakly: a pool whose last waiter has gone (every
    /// waiting task holds its pool) is freed without waiting for the timer.
    func startDeadlineTimer(firstDeadline deadline: Int64) {
        let context = self.context
        Task { [weak self] in
            do {
                try await Task.sleep(for: Self.realDelay(until: deadline, context: context))
            } catch {
                // Nobody cancels this task; if something did, looking now is still correct.
            }
            guard let self else { return }
            let now = context.timestamper.readPreciseStamp()
            _ = self.send { $0.expire(now: now) }
        }
    }
}
