/// Connecting: new records and reconnects, every outcome reported to the state machine (which
/// holds `maxConnecting` and the backoff), and the wake-ups that follow.
extension QueuePool {
    /// Creates a record in a slot the state machine reserved. The creator runs outside the lock;
    /// if it fails, the slot is given back (SQLAlchemy restores `_overflow`) and the creator's
    /// error propagates unwrapped.
    /// A checkout's new record is counted as a checkout once it exists; pre-fill and maintenance
    /// records (`site` nil) are not checkouts.
    func createRecord(site: CheckoutSite?) throws -> Record {
        var creatorFailure: (any Error)?
        let record: Record
        do {
            record = try ConnectionRecord.connected(context: context, creatorFailure: &creatorFailure)
        } catch {
            report(.failed(newRecord: true, creatorFailure: creatorFailure))
            throw error
        }
        if site == nil { record.madeInBackground() }
        report(.created(record, checkout: site))
        return record
    }

    /// Makes the new connection of a record the machine handed out as
    /// `QueueStateMachine.Next.reconnect` (recycled, invalidated earlier, or older than a
    /// pool-wide invalidation), with the connect permit it came with. On failure the checkout
    /// fails as a new record's would: with the creator's error, the record back in the pool
    /// without a connection.
    func reconnectForCheckout(_ record: Record) throws -> Record {
        do {
            try reportingReconnect(of: record) { try record.reconnect() }
        } catch {
            record.addHolder()
            Checkout.fail(record, pool: self, error: error)
            throw error
        }
        return record
    }

    /// A reconnect in the middle of a checkout (a failed pre-ping, a checkout listener's
    /// disconnect): counted in `connecting` and reported as every connect is, though not held
    /// back, since the checkout already holds its record.
    @usableFromInline
    func reconnectDuringCheckout(_ record: Record) throws -> ConnectionBox<Connection> {
        _ = send { $0.reconnectStarted() }
        return try reportingReconnect(of: record) { try record.getConnectionBox() }
    }

    /// A reconnect the maintenance thread makes (minIdle, a backoff probe, a keep-alive
    /// replacement), with its permit taken. A failure leaves the record without a connection.
    func reconnectInBackground(_ record: Record) {
        do {
            try reportingReconnect(of: record) { try record.reconnect() }
            record.madeInBackground()
        } catch {
            record.invalidate(error)
        }
    }

    /// Runs `reconnect` (an existing record's connect, its permit already taken) and reports
    /// the outcome to the machine, with the creator's error when it failed, then rethrows.
    private func reportingReconnect<T>(of record: Record, _ reconnect: () throws -> T) throws -> T {
        do {
            let result = try reconnect()
            report(.reconnected)
            return result
        } catch {
            report(.failed(newRecord: false, creatorFailure: record.lastCreatorFailure))
            throw error
        }
    }

    /// Reports a finished connect to the machine, which wakes whoever it may now serve and, after
    /// a creator failure, schedules maintenance for the retry.
    func report(_ outcome: Machine.ConnectOutcome) {
        let random = context.options.connectBackoff == nil ? 0 : Double.random(in: 0..<1)
        _ = send { $0.connectFinished(outcome, random: random) }
    }
}
