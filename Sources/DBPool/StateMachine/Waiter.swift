import Dispatch

/// A checkout waiting for a QueuePool at its limit. One type serves both kinds of caller: a
/// blocked thread (woken through its semaphore) and a suspended task (resumed through its
/// continuation). Both sit in the same FIFO queue, so the longest-waiting caller is served
/// first whichever kind it is. A blocking waiter may also be woken without a grant, to come and
/// take an idle record itself (see ``PoolOptions/overtakeWindow``); it then looks again under the
/// lock, so a spare signal only costs it one more look.
@usableFromInline
// Unchecked Sendable, safe because: every mutable field is written only by the owning pool's
// state machine, which runs while the pool's state lock is held. The waiting thread or task reads
// `grant` and `failure` only through the machine too (after re-taking the lock), so every read is
// ordered after the write. The pool itself writes nothing here: it gets what it must signal or
// resume as a ``Wakeup``, taken out of the waiter under the lock.
final class Waiter<Record: AnyObject>: @unchecked Sendable {
    /// What a waiter is given: an idle record, or permission to create one in a freed slot.
    @usableFromInline
    enum Grant {
        case record(Record)
        case permit
        /// A record whose connection must be made first, with the connect permit for it.
        case reconnect(Record)
    }

    @usableFromInline
    enum Kind {
        case blocking(DispatchSemaphore)
        case async
    }

    @usableFromInline
    let kind: Kind
    /// Where the waiting checkout was requested; noted on the record it is given.
    @usableFromInline
    let site: CheckoutSite?
    /// When the wait began, as a precise ``Timestamper`` stamp on the pool's clock: the wait
    /// statistics measure from here.
    @usableFromInline
    let startedAt: Int64
    /// The deadline, as a stamp on the pool's clock (see ``Timestamper``); `nil` without a
    /// timeout. (Not a `ContinuousClock.Instant`: that type is not frozen, and storing one would
    /// make every field's offset a run-time lookup.)
    @usableFromInline
    let deadline: Int64?
    /// Its place in the pool's wait queue, and in its list of watched deadlines (async waiters
    /// with a timeout only). See ``WaiterList``.
    @usableFromInline
    var queueLinks = WaiterLinks<Record>()
    @usableFromInline
    var deadlineLinks = WaiterLinks<Record>()
    /// Whether it is in the wait queue now.
    @inlinable
    var isQueued: Bool { queueLinks.isLinked }
    /// Set once the waiter has entered the queue; with `isQueued` false it means it has left it.
    @usableFromInline
    var wasQueued = false
    @usableFromInline
    var grant: Grant?
    /// Set when a cancellation arrives before the waiter was enqueued, or when the machine fails
    /// a queued waiter (shutdown, its deadline).
    @usableFromInline
    var failure: WaitFailure?
    /// An async waiter's continuation while it is queued; taken out by the machine when it wakes it.
    /// Unchecked (no allocation per wait): it is resumed exactly once because only the machine,
    /// under the pool's lock, takes it out, and a ``Wakeup`` carries it to the one resume; a
    /// waiter served during its second look never stores it and resumes it itself.
    @usableFromInline
    var continuation: UnsafeContinuation<Void, any Error>?
    /// When a blocking waiter joined the queue, as a precise ``Timestamper`` stamp: how long it may
    /// still be overtaken is measured from here. Set only when overtaking is on.
    @usableFromInline
    var enqueuedAt: Int64 = 0

    @inlinable
    var isBlocking: Bool {
        if case .blocking = kind { return true }
        return false
    }

    @inlinable
    init(kind: Kind, site: CheckoutSite?, startedAt: Int64 = 0, deadline: Int64? = nil) {
        self.kind = kind
        self.site = site
        self.startedAt = startedAt
        self.deadline = deadline
    }
}
