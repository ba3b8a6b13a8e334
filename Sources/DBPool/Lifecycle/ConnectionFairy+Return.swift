/// The return path: what runs once a checkout is over (a close, a hard invalidation, a dropped
/// fairy), and the one way a record goes back into its pool, ``ConnectionFairy/checkIn(_:keepingFairy:)``.
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
            // A detached fairy: its record went back to the pool at `detach()`, and only the
            // connection is left to reset and close; one its record had already closed has nothing.
            if let box = box.take(), !box.isClosedByRecord {
                Self.reset(box.value, record: nil, transactionWasReset: transactionWasReset, context: context)
            }
            return
        }
        Self.resetForReturn(record: record, box: box, transactionWasReset: transactionWasReset, context: context)
        record.fireCheckin()
        checkIn(consume record, keepingFairy: reusable)
    }

    /// The one way a checkout's record goes back into its pool (``RecordPool/checkIn(_:from:)``),
    /// for every pool kind; the caller has fired `checkin` if the return calls for it. The fairy
    /// lets go of the pool here: a local keeps the pool alive until the record is back.
    ///
    /// `keepingFairy`: a QueuePool keeps this fairy for the record's next checkout, which reuses
    /// it if the caller has let go of it by then, so that a checkout in steady state allocates
    /// nothing. Other kinds never keep one (StaticPool shares its record between holders).
    ///
    /// Always inlined, as is the static form: left to itself the optimiser keeps both out of line,
    /// and the call cost W1 (`connect()` + `close()`) about 20 instructions per cycle in
    /// callgrind, 2% of the whole cycle.
    @inlinable @inline(__always)
    func checkIn(_ record: consuming ConnectionRecord<Connection>, keepingFairy: Bool) {
        let pool = poolStorage.take().unsafelyUnwrapped
        if keepingFairy && poolIsQueuePool { record.spareFairy = self }
        Self.checkIn(consume record, to: consume pool, isQueuePool: poolIsQueuePool, from: self)
    }

    /// ``checkIn(_:keepingFairy:)`` without the fairy, for a return that runs after the fairy's
    /// `deinit` (`fairy` is then `nil`).
    ///
    /// The trade-off: one reference for every pool kind is an existential, and a call through it
    /// reaches QueuePool's witness unspecialised, where generic code looks up type metadata at run
    /// time; that cost more than the rest of a checkout and return together (Benchmarks/RESULTS.md,
    /// "What changed since the first profile"). So for a QueuePool, known from the flag the
    /// checkout stored, the same requirement is called on the concrete type instead:
    /// `unsafeDowncast` is a plain reinterpretation in release builds, and the call is inlined and
    /// specialised for the caller's connection type. The price is one stored `Bool` per fairy and
    /// an unchecked cast; the flag is set only from the pool's static type
    /// (``RecordPool/isQueuePool``), so the cast cannot be wrong. A typed field would make the
    /// fairy hold the pool twice, or need a second kind of fairy; a checked `as?` would look up
    /// `QueuePool<Connection>`'s metadata on every return.
    @inlinable @inline(__always)
    static func checkIn(
        _ record: consuming ConnectionRecord<Connection>, to pool: consuming any RecordPool<Connection>,
        isQueuePool: Bool, from fairy: ConnectionFairy<Connection>?
    ) {
        guard isQueuePool else {
            pool.checkIn(record, from: fairy)
            return
        }
        // The pool moves into the typed reference, which keeps it alive until the record is back.
        let queuePool = unsafeDowncast((consume pool) as AnyObject, to: QueuePool<Connection>.self)
        queuePool.checkIn(consume record, from: fairy)
    }

    /// The return of a fairy dropped without `close()`, after its `deinit` has started: nothing
    /// may refer to the fairy any more, so the return runs on what it held. On the driver threads
    /// for an async caller's fairy, so that the `deinit` never blocks the thread it runs on.
    func returnDropped() {
        let record = recordStorage.take(), box = self.box.take()
        let context = self.context, isQueuePool = poolIsQueuePool
        // Only a fairy that still has its record holds the pool (a detached one let go of it).
        let pool = record == nil ? nil : poolStorage.take()
        let finish: @Sendable (ConnectionFairy?) -> Void = { fairy in
            guard let record, let pool else {
                if let box, !box.isClosedByRecord { Self.reset(box.value, record: nil, transactionWasReset: false, context: context) }
                return
            }
            Self.resetForReturn(record: record, box: box, transactionWasReset: false, context: context)
            record.fireCheckin()
            Self.checkIn(record, to: pool, isQueuePool: isQueuePool, from: fairy)
        }
        if returnsOnDriverThreads, let executor = context.driverExecutor, !executor.isCurrent {
            executor.submit { finish(nil) }
        } else {
            finish(self)
        }
    }
}
