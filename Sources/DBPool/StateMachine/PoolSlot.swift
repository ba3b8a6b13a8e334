/// What QueuePool's state machine needs of a record, to read and note while it holds the pool's
/// lock: idle times, who holds it, and whether its next checkout needs a new connection.
/// ``ConnectionRecord`` conforms; the machine's own tests use small fakes.
@usableFromInline
protocol PoolSlot: AnyObject {
    /// When the record last went idle: came back from its last use. A keep-alive ping is not a
    /// use and leaves it alone.
    @inlinable
    var idleSince: ContinuousClock.Instant? { get set }
    /// When the record last went idle or was last pinged: when its next keep-alive ping is due from.
    @inlinable
    var lastPinged: ContinuousClock.Instant? { get set }
    /// Notes who holds the record from now on, and since when, for `checkedOutConnections()`
    /// and leak detection. The record stamps the time itself: it knows its pool's clock, and
    /// its cheap stamp is not a `ContinuousClock.Instant` (whose arithmetic is 128-bit).
    @inlinable
    func noteCheckout(site: CheckoutSite?)
    /// Clears what ``noteCheckout(site:)`` noted.
    @inlinable
    func noteCheckin()
    /// Whether the record's next checkout must make a new connection first (none, too old,
    /// invalidated): then handing it out takes a connect permit, as creating a record does.
    @inlinable
    var needsConnect: Bool { get }
    /// Whether the record holds a connection: what `minIdle` counts.
    var hasConnection: Bool { get }
    /// When the record was checked out, if it is out: what leak reports measure.
    var checkoutTime: ContinuousClock.Instant? { get }
    /// Where it was checked out, if it is out.
    var checkoutSite: CheckoutSite? { get }
    /// Whether this checkout was already reported as a possible leak.
    var leakReported: Bool { get set }
}
