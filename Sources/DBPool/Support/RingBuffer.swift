/// A growable FIFO/LIFO buffer with O(1) push and pop at both ends. The idle-record store of
/// QueuePool; written here because the root package takes no dependencies (no swift-collections).
///
/// The capacity is a power of two, so that wrapping an index is a mask rather than a division
/// (a division costs more than the rest of a push).
@usableFromInline
struct RingBuffer<Element> {
    @usableFromInline
    var storage: ContiguousArray<Element?>
    @usableFromInline
    var head = 0
    @usableFromInline
    var count = 0

    @inlinable
    init(initialCapacity: Int = 8) {
        var capacity = 1
        while capacity < initialCapacity { capacity <<= 1 }
        storage = ContiguousArray(repeating: nil, count: capacity)
    }

    @inlinable
    var isEmpty: Bool { count == 0 }

    @inlinable
    var mask: Int { storage.count &- 1 }

    @inlinable
    mutating func pushBack(_ element: consuming Element) {
        if count == storage.count { grow() }
        storage[(head &+ count) & mask] = consume element
        count &+= 1
    }

    @inlinable
    mutating func pushFront(_ element: consuming Element) {
        if count == storage.count { grow() }
        head = (head &- 1) & mask
        storage[head] = consume element
        count &+= 1
    }

    @inlinable
    func peekFront() -> Element? {
        count > 0 ? storage[head] : nil
    }

    @inlinable
    mutating func popFront() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head].take()
        head = (head &+ 1) & mask
        count &-= 1
        return element
    }

    @inlinable
    mutating func popBack() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[(head &+ count &- 1) & mask].take()
        count &-= 1
        return element
    }

    @inlinable
    mutating func removeAll() -> [Element] {
        var out: [Element] = []
        out.reserveCapacity(count)
        while let element = popFront() { out.append(element) }
        return out
    }

    /// Takes out, in order, the elements `shouldRemove` picks (at most `limit` of them), keeping
    /// the others in order. O(count).
    mutating func remove(limit: Int = .max, where shouldRemove: (Element) -> Bool) -> [Element] {
        var removed: [Element] = []
        let total = count
        for _ in 0..<total {
            let element = popFront()!
            if removed.count < limit && shouldRemove(element) {
                removed.append(element)
            } else {
                pushBack(element)
            }
        }
        return removed
    }

    /// Calls `body` with each element, front to back.
    func forEach(_ body: (Element) -> Void) {
        for i in 0..<count { body(storage[(head &+ i) & mask]!) }
    }

    @inlinable
    mutating func grow() {
        var bigger = ContiguousArray<Element?>(repeating: nil, count: storage.count * 2)
        for i in 0..<count { bigger[i] = storage[(head &+ i) & mask].take() }
        storage = bigger
        head = 0
    }
}
