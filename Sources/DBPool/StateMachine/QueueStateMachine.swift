/// QueuePool's brain: a value type with no side effects, kept behind the pool's one lock. It takes
/// events (a checkout request, a return, a finished close or failed creation, a cancelled or
/// timed-out waiter, dispose) and answers with the action to run once the lock is released
/// (use this record, create a connection, wait, hand a record or a permit to a waiter, close a
/// record).
///
/// Accounting: `open` counts records in existence, including ones being created and ones being
/// closed, so no more than `poolSize + maxOverflow` driver connections exist at any instant.
/// SQLAlchemy's `_overflow` is `open - poolSize`. Unlike SQLAlchemy, `dispose()` subtracts only
/// the records it closes, instead of resetting the counter, so records that were checked out
/// during a dispose are still counted and `checkedOut` can never go negative.
///
/// Fairness: a waiter is queued only when no idle record and no free slot exist, and a returned
/// record or a freed slot always goes to the head of the queue. A new arrival therefore never
/// overtakes a queued waiter, and blocking and async waiters share one FIFO.
struct QueueStateMachine<Record: AnyObject> {
    enum Acquire {
        /// An idle record: check it out.
        case record(Record)
        /// A slot was reserved: create a record in it.
        case create
        /// No record and no slot: the waiter (if one was given) has been queued.
        case wait
    }

    enum Release {
        /// The record went back into the idle store.
        case pooled
        /// The record went to a waiter: wake it.
        case handOff(Waiter<Record>)
        /// The idle store is full (an overflow record): close the record, then call `slotFreed`.
        case close(Record)
    }

    let poolSize: Int
    let maxOverflow: Int
    let useLIFO: Bool
    private var idle: RingBuffer<Record>
    private(set) var open = 0
    private(set) var waiters = WaiterQueue<Record>()

    init(poolSize: Int, maxOverflow: Int, useLIFO: Bool) {
        self.poolSize = poolSize
        // SQLAlchemy 2.0: pool_size 0 means no limit at all.
        self.maxOverflow = poolSize == 0 ? -1 : maxOverflow
        self.useLIFO = useLIFO
        self.idle = RingBuffer(initialCapacity: Swift.max(1, Swift.min(poolSize, 1024)))
    }

    var checkedIn: Int { idle.count }
    var checkedOut: Int { open - idle.count }
    var overflow: Int { poolSize > 0 ? open - poolSize : 0 }
    var waiting: Int { waiters.count }
    private var hasFreeSlot: Bool { maxOverflow < 0 || open < poolSize + maxOverflow }

    /// A checkout request. Without a waiter it never queues (the lock-free-of-allocation fast path);
    /// the caller retries with a waiter on `.wait`.
    mutating func acquire(enqueueing waiter: Waiter<Record>?) -> Acquire {
        if waiters.isEmpty {
            if let record = useLIFO ? idle.popBack() : idle.popFront() {
                return .record(record)
            }
            if hasFreeSlot {
                open += 1
                return .create
            }
        }
        if let waiter { waiters.append(waiter) }
        return .wait
    }

    /// A record comes back (after its `checkin` event).
    mutating func release(_ record: Record) -> Release {
        if let waiter = waiters.popFirst() {
            waiter.grant = .record(record)
            return .handOff(waiter)
        }
        if poolSize == 0 || idle.count < poolSize {
            idle.pushBack(record)
            return .pooled
        }
        return .close(record)
    }

    /// A slot was given up: a creation failed, or a close finished. If a waiter is queued, the slot
    /// is reserved for it at once and the waiter is returned to be woken with a permit.
    mutating func slotFreed(count: Int = 1) -> [Waiter<Record>] {
        open -= count
        var woken: [Waiter<Record>] = []
        while hasFreeSlot, let waiter = waiters.popFirst() {
            open += 1
            waiter.grant = .permit
            woken.append(waiter)
        }
        return woken
    }

    /// A waiter gives up (timeout or cancellation). Returns `true` if it was still queued, `false`
    /// if it had already been granted something, which it must then use or give back.
    mutating func remove(_ waiter: Waiter<Record>) -> Bool {
        waiters.remove(waiter)
    }

    /// Takes every idle record out for `dispose()`. They stay counted in `open` until the caller
    /// has closed them and called `slotFreed(count:)`.
    mutating func drainIdle() -> [Record] {
        idle.removeAll()
    }
}
