/// A growable FIFO/LIFO buffer with O(1) push and pop at both ends. The idle-record store of
/// QueuePool; written here because the root package takes no dependencies (no swift-collections).
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
        storage = ContiguousArray(repeating: nil, count: Swift.max(initialCapacity, 1))
    }

    @inlinable
    var isEmpty: Bool { count == 0 }

    @inlinable
    mutating func pushBack(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    @inlinable
    func peekFront() -> Element? {
        count > 0 ? storage[head] : nil
    }

    @inlinable
    mutating func popFront() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head].take()
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    @inlinable
    mutating func popBack() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[(head + count - 1) % storage.count].take()
        count -= 1
        return element
    }

    @inlinable
    mutating func removeAll() -> [Element] {
        var out: [Element] = []
        out.reserveCapacity(count)
        while let element = popFront() { out.append(element) }
        return out
    }

    @inlinable
    mutating func grow() {
        var bigger = ContiguousArray<Element?>(repeating: nil, count: storage.count * 2)
        for i in 0..<count { bigger[i] = storage[(head + i) % storage.count].take() }
        storage = bigger
        head = 0
    }
}
