/// The return path: what runs once a checkout is over (a close, a hard invalidation, a dropped
/// fairy) to give the record back to its pool.
extension ConnectionFairy {
    /// `reusable` is false when called from `deinit`: a fairy being freed cannot be kept.
    @inlinable
    func finishReturn(transactionWasReset: Bool, reusable: Bool = true) {
        // Moved out rather than copied: the fairy lets go of both here anyway.
        finishReturn(record: recordStorage.take(), box: box.take(), transactionWasReset: transactionWasReset, reusable: reusable)
    }

    @inlinable
    func finishReturn(record: consuming ConnectionRecord<Connection>?, box: consuming ConnectionBox<Connection>?, transactionWasReset: Bool, reusable: Bool) {
        guard let record = record.take() else {
            // A detached fairy whose record had already closed the connection has nothing to close.
            if let box = box.take(), !box.isClosedByRecord {
                Self.reset(box.value, record: nil, transactionWasReset: transactionWasReset, context: context)
            }
            pool.fairyFinished(self)
            return
        }
        Self.resetForReturn(record: record, box: box, transactionWasReset: transactionWasReset, context: context)
        guard let queuePool else {
            record.checkin(to: pool)
            pool.fairyFinished(self)
            return
        }
        record.fireCheckin()
        // The pool keeps this fairy for the record's next checkout, which reuses it if the
        // caller has let go of it by then: a checkout in steady state allocates nothing. The
        // pool reference moves to a local that keeps the pool alive until the record is back.
        let pool = poolStorage.take()
        if reusable { record.spareFairy = self }
        queuePool._withUnsafeGuaranteedRef { $0.returnRecord(record) }
        withExtendedLifetime(pool) {}
    }

    /// The return of a fairy dropped without `close()`, after its `deinit` has started: nothing
    /// may refer to the fairy any more, so the return runs on what it held. On the driver threads
    /// for an async caller's fairy, so that the `deinit` never blocks the thread it runs on.
    func returnDropped() {
        let record = recordStorage.take(), box = self.box.take()
        let context = self.context, pool = self.pool
        let queuePool = self.queuePool.map { $0.takeUnretainedValue() }
        let finish: @Sendable () -> Void = {
            guard let record else {
                if let box, !box.isClosedByRecord { Self.reset(box.value, record: nil, transactionWasReset: false, context: context) }
                return
            }
            Self.resetForReturn(record: record, box: box, transactionWasReset: false, context: context)
            if let queuePool {
                record.fireCheckin()
                queuePool.returnRecord(record)
            } else {
                record.checkin(to: pool)
            }
            withExtendedLifetime(pool) {}
        }
        if returnsOnDriverThreads, let executor = context.driverExecutor, !executor.isCurrent {
            executor.submit(finish)
        } else {
            finish()
            pool.fairyFinished(self)
        }
    }
}
