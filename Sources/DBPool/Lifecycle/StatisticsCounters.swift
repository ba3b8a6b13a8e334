import Synchronization

/// Counters updated outside the pool's lock (creation and close paths), as relaxed atomics.
final class StatisticsCounters: Sendable {
    let created = Atomic<Int>(0)
    let connectFailures = Atomic<Int>(0)
    /// Successful checkouts, for the pool kinds without a state machine (QueuePool counts its
    /// own, under its lock).
    let checkouts = Atomic<Int>(0)
    /// Closes by reason. A lock rather than an atomic per reason (atomics cannot live in an
    /// array): closes are rare next to checkouts, and never on the checkout path.
    private let closes = Locked([Int](repeating: 0, count: CloseReason.allCases.count))

    /// Counts a checkout that has succeeded: called once the fairy is ready, so a checkout that
    /// fails in the creator, the pre-ping or a checkout listener is not counted.
    func countCheckout() {
        checkouts.wrappingAdd(1, ordering: .relaxed)
    }

    func countClose(_ reason: CloseReason) {
        closes.withLock { $0[reason.index] &+= 1 }
    }

    var closesByReason: [CloseReason: Int] {
        let counts = closes.withLock { $0 }
        return Dictionary(uniqueKeysWithValues: CloseReason.allCases.map { ($0, counts[$0.index]) })
    }
}
