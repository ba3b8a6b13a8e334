/// The two ways a holder ends a checkout early: invalidating the connection, and detaching it
/// from the pool for good.
extension ConnectionFairy {
    /// Invalidates the connection. Hard (the default): the record's connection is closed (events
    /// `invalidate`, then `close`; dialect `doTerminate`), and the checkout ends at once with a
    /// `checkin` carrying no connection; a later `close()` does nothing. Soft: the connection stays
    /// usable until it is returned, and the record replaces it on its next checkout.
    ///
    /// On a fairy that is already closed or invalidated, logs a warning
    /// ("Can't invalidate an already-closed connection.") and does nothing.
    ///
    /// Difference from SQLAlchemy: hard-invalidating a *detached* fairy terminates its connection,
    /// where SQLAlchemy leaves it open and only forgets it; the pool no longer knows that
    /// connection, so nothing else would ever close it.
    public func invalidate(_ error: (any Error)? = nil, soft: Bool = false) {
        guard let held = box else {
            context.log(.warning, "Can't invalidate an already-closed connection.")
            return
        }
        if let record {
            record.invalidate(error, soft: soft)
        } else if !soft && !held.isClosedByRecord {
            context.closeQuietly(held.value, terminate: true)
        }
        guard !soft else { return }
        box = nil
        counter = 0
        // Not kept for reuse: a holder goes on reading an invalidated fairy (`isValid`, `record`),
        // and TSan caught a reuse racing such a read under chaos; invalidations are rare enough
        // that the allocation a reuse would save does not matter.
        finishReturn(transactionWasReset: false, reusable: false)
    }

    /// Separates the connection from the pool for good. The record goes straight back to the pool
    /// without its connection (no reset, no `checkin`; it reconnects on its next checkout), the
    /// `detach` event fires, and the fairy keeps the connection, which no longer counts against
    /// the pool's limits. ``info`` becomes a private copy. Closing the detached fairy closes the
    /// connection. Calling `detach()` again does nothing.
    ///
    /// `detach` fires with the fairy's own connection, as in SQLAlchemy, even when the record has
    /// already closed it (after `fairy.record?.invalidate()`); such a fairy then has nothing to
    /// reset or close.
    ///
    /// The detached fairy lets go of its pool. A SingletonThreadPool stops treating it as its
    /// thread's current fairy, as SQLAlchemy's does, so the thread's next `connect()` gets a fresh
    /// connection rather than the detached one.
    ///
    /// Difference from SQLAlchemy: closing a detached fairy whose reset fails still closes
    /// (terminates) the connection; SQLAlchemy skips `closeDetached` and the close, and leaks it.
    public func detach() {
        guard let record, counter > 0 else { return }
        _ = record.takeConnectionForDetach()
        record.removeHolder()
        detachedInfo = record.info
        self.recordStorage = nil
        checkIn(record, keepingFairy: false)
        if let connection = box?.value {
            context.events.fireDetach(connection, record)
        }
        context.log(.debug, "Connection detached from pool")
    }
}
