/// The queued async waiters that have a deadline, oldest first. Every async waiter of a pool gets
/// the same timeout, so enqueue order is deadline order (to within the few microseconds between
/// reading the clock and taking the lock): one timer per pool, watching the first entry, serves
/// them all, instead of a sleeping timer task per waiter. Blocking waiters keep their own deadline
/// in their semaphore wait and are never in this list.
///
/// Intrusive and doubly linked, like ``WaiterQueue``, so a waiter that leaves the queue for any
/// reason leaves this list in O(1) too.
@usableFromInline
struct DeadlineList<Record: AnyObject> {
    @usableFromInline
    var head: Waiter<Record>?
    @usableFromInline
    unowned(unsafe) var tail: Waiter<Record>?

    @inlinable
    var isEmpty: Bool { head == nil }

    @usableFromInline
    mutating func append(_ waiter: Waiter<Record>) {
        waiter.isTimed = true
        waiter.timedNext = nil
        waiter.timedPrevious = tail
        if let tail {
            tail.timedNext = waiter
        } else {
            head = waiter
        }
        tail = waiter
    }

    @inlinable
    mutating func remove(_ waiter: Waiter<Record>) {
        guard waiter.isTimed else { return }
        waiter.isTimed = false
        let next = waiter.timedNext
        if let previous = waiter.timedPrevious {
            previous.timedNext = next
        } else {
            head = next
        }
        if let next {
            next.timedPrevious = waiter.timedPrevious
        } else {
            tail = waiter.timedPrevious
        }
        waiter.timedNext = nil
        waiter.timedPrevious = nil
    }
}
