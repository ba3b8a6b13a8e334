import Synchronization

/// How a fairy's checkout ends at its holder's call: ``ConnectionFairy/close()`` and its forms,
/// the re-entrancy counter that lets exactly one close return the connection, and the hand-over
/// of an async caller's return to the driver threads. The return itself is in
/// ConnectionFairy+Return.swift.
extension ConnectionFairy {
    /// Returns the connection to the pool: the `reset` event, then rollback, commit or nothing
    /// per `resetOnReturn`, then the `checkin` event, then the record goes back to the pool.
    /// For a detached fairy: `reset` (terminateOnly), the reset action, `closeDetached`, and the
    /// connection is closed. A second `close()` does nothing. Errors during the reset are logged
    /// and invalidate the record; they never escape `close()`.
    ///
    /// Synchronous, and callable from async code: for a fairy that an async caller checked out,
    /// a `close()` made off the pool's driver threads hands the reset and the return to those
    /// threads and returns at once, so no driver call runs on the calling (cooperative) thread.
    /// The fairy is closed when `close()` returns (``dbapiConnection`` and ``record`` are `nil`);
    /// the connection is back in the pool a moment later. Use ``closeAndWait()`` to wait for that.
    ///
    /// If the record closed the connection while the fairy held it (`fairy.record?.invalidate()`),
    /// the connection is not touched again: no `reset` event and no rollback, only `checkin` with
    /// no connection. SQLAlchemy's explicit close would still reset the closed connection; its
    /// garbage-collection path already behaves like this.
    ///
    /// Two threads calling `close()` on the same fairy at once is misuse, but safe: one of them
    /// returns the connection and the other does nothing, as a second `close()` does.
    @inlinable
    public func close() {
        close(transactionWasReset: false)
    }

    /// SQLAlchemy's "special close": `transactionWasReset: true` says the caller already ended the
    /// transaction, so the pool skips its rollback (a commit is still issued in `.commit` mode).
    @inlinable
    public func close(transactionWasReset: Bool) {
        // The common close takes the counter from 1 to 0 in one step; only the caller whose step
        // it was goes on, so a concurrent second close cannot return the record twice.
        guard nesting.compareExchange(expected: 1, desired: 0, ordering: .acquiringAndReleasing).exchanged else {
            closeNestedOrClosed(transactionWasReset: transactionWasReset)
            return
        }
        if returnsOnDriverThreads, handedToDriverThreads(transactionWasReset: transactionWasReset) { return }
        finishReturn(transactionWasReset: transactionWasReset)
    }

    /// An async caller's return, handed to the driver threads unless it runs there already or
    /// makes no driver call; `false` if the caller must finish it. Out of line, so that the
    /// blocking close stays small enough to inline; inlinable, so that it is specialised for
    /// the connection type (unspecialised, its generic reads retained and released the context,
    /// the box and the connection: about a quarter of an async W1 cycle).
    @inlinable @inline(never)
    func handedToDriverThreads(transactionWasReset: Bool) -> Bool {
        guard let executor = context.driverExecutor, !executor.isCurrent,
            !returnMakesNoDriverCall(transactionWasReset: transactionWasReset)
        else { return false }
        returnOnDriverThreads(executor, transactionWasReset: transactionWasReset)
        return true
    }

    /// Whether this fairy's return makes no driver call and runs no listener, so that it may
    /// complete where an async caller runs instead of on the driver threads: an async driver's
    /// connection with nothing to reset (see ``AsyncDialect/needsReset(_:)``), no `reset` or
    /// `checkin` listener, and a record to go back to (a detached connection is closed). A close
    /// the return causes (overflow, shutdown) is started there without being waited for, as
    /// every async driver's close off the pool's threads is.
    @inlinable
    func returnMakesNoDriverCall(transactionWasReset: Bool) -> Bool {
        // Ordered so that the common answers read no reference they would have to retain.
        guard context.asksNeedsReset, !context.events.has(.reset), !context.events.has(.checkin), recordStorage != nil
        else { return false }
        switch context.resetOnReturn {
        case .noAction: return true
        case .rollback: if transactionWasReset { return true }
        case .commit: break
        }
        guard let box, !box.isClosedByRecord, let needsReset = context.needsReset else { return true }
        return !needsReset(box.value)
    }

    /// Returns the connection and waits until it is back in the pool (or, for a detached fairy,
    /// closed), with the reset run on the pool's driver threads. Does nothing if the fairy is
    /// already closed.
    public func closeAndWait() async {
        guard counter > 0 else { return }
        guard let executor = context.driverExecutor, !executor.isCurrent,
            !returnMakesNoDriverCall(transactionWasReset: false)
        else {
            close()
            return
        }
        returnsOnDriverThreads = false
        // `run` rethrows only what its body throws, and `close()` cannot throw.
        try? await executor.run { close() }
    }

    /// The return of an async caller's fairy, moved to the driver threads. The fairy lets go of
    /// its record and connection now, so that it reads as closed at once.
    @usableFromInline
    func returnOnDriverThreads(_ executor: DriverExecutor, transactionWasReset: Bool) {
        let record = recordStorage.take()
        let box = self.box.take()
        executor.submit { [self] in
            self.finishReturn(record: record, box: box, transactionWasReset: transactionWasReset, reusable: true)
        }
    }

    /// A close that did not find the counter at 1: the end of a nested checkout (above 1), or a
    /// fairy that is already closed (0), where it does nothing.
    @usableFromInline
    func closeNestedOrClosed(transactionWasReset: Bool) {
        var current = nesting.load(ordering: .relaxed)
        while current > 0 {
            let (exchanged, original) = nesting.compareExchange(
                expected: current, desired: current - 1, ordering: .acquiringAndReleasing)
            if exchanged {
                if current == 1, !(returnsOnDriverThreads && handedToDriverThreads(transactionWasReset: transactionWasReset)) {
                    finishReturn(transactionWasReset: transactionWasReset)
                }
                return
            }
            current = original
        }
    }
}
