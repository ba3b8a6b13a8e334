/// A waiter's place in one ``WaiterList``.
@usableFromInline
struct WaiterLinks<Record: AnyObject> {
    @usableFromInline
    var next: Waiter<Record>?
    @usableFromInline
    unowned(unsafe) var previous: Waiter<Record>?
    @usableFromInline
    var isLinked = false

    @inlinable
    init() {}
}

/// An intrusive, doubly linked FIFO list of waiters: O(1) append, pop and removal from the middle
/// (a cancel or a timeout), with no allocation beyond the waiter itself. A waiter can be in two
/// lists at once, each through its own links:
///
/// - `.queue`: the pool's wait queue, blocking and async waiters in arrival order.
/// - `.deadlines`: the queued async waiters that have a deadline. Every async waiter of a pool
///   gets the same timeout, so arrival order is deadline order (to within the few microseconds
///   between reading the clock and taking the lock), and one timer per pool, watching the first
///   entry, serves them all instead of a sleeping task per waiter. Blocking waiters keep their
///   deadline in their own semaphore wait and are never in this list.
@usableFromInline
struct WaiterList<Record: AnyObject> {
    @usableFromInline
    enum Membership { case queue, deadlines }

    @usableFromInline
    let membership: Membership
    @usableFromInline
    var head: Waiter<Record>?
    @usableFromInline
    unowned(unsafe) var tail: Waiter<Record>?
    @usableFromInline
    var count = 0

    @inlinable
    init(_ membership: Membership) {
        self.membership = membership
    }

    @inlinable
    var isEmpty: Bool { head == nil }

    @inlinable
    func links<R>(of waiter: Waiter<Record>, _ body: (inout WaiterLinks<Record>) -> R) -> R {
        switch membership {
        case .queue: return body(&waiter.queueLinks)
        case .deadlines: return body(&waiter.deadlineLinks)
        }
    }

    @inlinable
    mutating func append(_ waiter: Waiter<Record>) {
        let tail = self.tail
        links(of: waiter) { links in
            links.isLinked = true
            links.next = nil
            links.previous = tail
        }
        if let tail {
            links(of: tail) { $0.next = waiter }
        } else {
            head = waiter
        }
        self.tail = waiter
        count += 1
    }

    @inlinable
    mutating func popFirst() -> Waiter<Record>? {
        guard let first = head else { return nil }
        remove(first)
        return first
    }

    /// Removes `waiter` if it is in the list; returns whether it was.
    @discardableResult
    @inlinable
    mutating func remove(_ waiter: Waiter<Record>) -> Bool {
        let (wasLinked, next, previous) = links(of: waiter) { links -> (Bool, Waiter<Record>?, Waiter<Record>?) in
            guard links.isLinked else { return (false, nil, nil) }
            let taken = (true, links.next, links.previous)
            links = WaiterLinks()
            return taken
        }
        guard wasLinked else { return false }
        if let previous {
            links(of: previous) { $0.next = next }
        } else {
            head = next
        }
        if let next {
            links(of: next) { $0.previous = previous }
        } else {
            tail = previous
        }
        count -= 1
        return true
    }
}
