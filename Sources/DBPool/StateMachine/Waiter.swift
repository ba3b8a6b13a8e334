import Dispatch

/// A checkout waiting for a QueuePool at its limit. One type serves both kinds of caller: a
/// blocked thread (woken through its semaphore) and a suspended task (resumed through its
/// continuation). Both sit in the same FIFO queue, so the longest-waiting caller is served
/// first whichever kind it is. A blocking waiter may also be woken without a grant, to come and
/// take an idle record itself (see ``PoolOptions/overtakeWindow``); it then looks again under the
/// lock, so a spare signal only costs it one more look.
@usableFromInline
// Unchecked Sendable, safe because: every mutable field is written only while holding the owning pool's state
// lock, except `deadline`, which is written once before the waiter is shared with any other
// thread, and `continuation`, which is set under the lock before the waiter is queued and then
// taken, outside the lock, only by the one party that dequeued the waiter (the waker). The
// waiting thread or task reads `grant` and `failure` only after being signalled or resumed by
// that party, or after re-taking the lock, so every read is ordered after the write.
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
    /// Set when a cancellation or timeout arrives before the waiter was enqueued, or by a
    /// shutdown that fails the queued waiters.
    @usableFromInline
    var failure: (any Error)?
    /// Resumed, without a value, once `grant` or `failure` is set.
    @usableFromInline
    var continuation: CheckedContinuation<Void, any Error>?
    /// Served at once when it came to enqueue, so it did not wait (for the wait statistics).
    @usableFromInline
    var grantedWithoutWaiting = false
    /// When a blocking waiter joined the queue, as a precise ``Timestamper`` stamp: how long it may
    /// still be overtaken is measured from here. Set only when overtaking is on.
    @usableFromInline
    var enqueuedAt: Int64 = 0
    /// An async waiter's deadline, as a stamp on the pool's clock (see ``Timestamper``); `nil`
    /// without a timeout. (Not a `ContinuousClock.Instant`: that type is not frozen, and storing one would
    /// make every field's offset a run-time lookup.)
    @usableFromInline
    var deadline: Int64?

    @inlinable
    var isBlocking: Bool {
        if case .blocking = kind { return true }
        return false
    }

    /// Signals the blocked thread, or resumes the suspended task. Called by whoever dequeued the
    /// waiter (under the lock), after releasing the lock; no cancel or timeout can reach the
    /// continuation any more.
    @usableFromInline
    func wake() {
        switch kind {
        case let .blocking(semaphore):
            semaphore.signal()
        case .async:
            let continuation = self.continuation
            self.continuation = nil
            if let failure, grant == nil {
                continuation?.resume(throwing: failure)
            } else {
                continuation?.resume()
            }
        }
    }

    @inlinable
    init(kind: Kind, site: CheckoutSite?) {
        self.kind = kind
        self.site = site
    }
}
