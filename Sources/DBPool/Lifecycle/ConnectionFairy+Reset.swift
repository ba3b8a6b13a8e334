/// The reset a return runs on the driver connection before the record goes back: the `reset`
/// event, the rollback or commit `resetOnReturn` asks for, and the close of a detached connection
/// (SQLAlchemy's `_finalize_fairy` and `_reset`).
extension ConnectionFairy {
    /// The reset half of a return with a record: the quiet rollback inline (the common return),
    /// anything else through ``reset(_:record:transactionWasReset:context:)``; then the record
    /// has no holder.
    ///
    /// Always inlined: with the async driver's branch in it the optimiser stopped inlining it into
    /// the return, which cost the blocking W1 about 25 instructions (callgrind).
    @inlinable @inline(__always)
    static func resetForReturn(record: ConnectionRecord<Connection>, box: consuming ConnectionBox<Connection>?, transactionWasReset: Bool, context: PoolContext<Connection>) {
        // SQLAlchemy logs the return before the reset it performs.
        context.log(.debug, "Connection being returned to pool")
        // A box the record has closed stays untouched: SQLAlchemy's finaliser, too, resets only
        // the connection the record still holds.
        if let box = box.take(), !box.isClosedByRecord {
            if !transactionWasReset && context.rollsBackQuietly {
                if context.driverIsAsync {
                    rollBackAsyncDriverQuietly(box.value, record: record, context: context)
                } else {
                    do {
                        try context.dialect.doRollback(box.value)
                    } catch {
                        resetFailed(error, record: record, context: context)
                    }
                }
            } else {
                reset(box.value, record: record, transactionWasReset: transactionWasReset, context: context)
            }
        }
        record.removeHolder()
    }

    /// The quiet rollback of an async driver's connection. One that knows no transaction is open
    /// is not called at all: its bridge would only return. Out of line, so that the blocking
    /// return stays small enough to inline.
    @usableFromInline
    static func rollBackAsyncDriverQuietly(_ connection: Connection, record: ConnectionRecord<Connection>, context: PoolContext<Connection>) {
        guard context.needsReset?(connection) != false else { return }
        do {
            try context.dialect.doRollback(connection)
        } catch {
            resetFailed(error, record: record, context: context)
        }
    }

    @usableFromInline
    static func resetFailed(_ error: any Error, record: ConnectionRecord<Connection>?, context: PoolContext<Connection>) {
        context.log(.error, "Exception during reset or similar", error: error)
        record?.invalidate(error)
    }

    /// The whole reset: the `reset` event, the action `resetOnReturn` asks for, its log lines, and
    /// the close of a detached connection. The common return (a rollback with no listener and no
    /// debug logging) takes a shorter inlined path in ``resetForReturn(record:box:transactionWasReset:context:)``.
    @usableFromInline
    static func reset(_ connection: Connection, record: ConnectionRecord<Connection>?, transactionWasReset: Bool, context: PoolContext<Connection>) {
        var resetFailed = false
        do {
            context.events.fireReset(
                connection, record,
                PoolResetState(transactionWasReset: transactionWasReset, terminateOnly: record == nil, asyncioSafe: true))
            switch context.resetOnReturn {
            case .rollback:
                if transactionWasReset {
                    context.log(.debug, "Connection reset, transaction already reset")
                } else {
                    context.log(.debug, "Connection rollback-on-return")
                    try context.dialect.doRollback(connection)
                }
            case .commit:
                context.log(.debug, "Connection commit-on-return")
                try context.dialect.doCommit(connection)
            case .noAction:
                break
            }
        } catch {
            Self.resetFailed(error, record: record, context: context)
            resetFailed = true
        }
        if record == nil {
            closeDetached(connection, afterFailedReset: resetFailed, context: context)
        }
    }

    /// A detached connection is closed whatever happened to its reset, or it would leak: the
    /// pool no longer knows it. After a failed reset it is terminated, as an invalidated one is.
    @usableFromInline
    static func closeDetached(_ connection: Connection, afterFailedReset: Bool, context: PoolContext<Connection>) {
        context.events.fireCloseDetached(connection)
        context.log(.debug, "Closing detached connection")
        context.closeQuietly(connection, terminate: afterFailedReset)
    }
}
