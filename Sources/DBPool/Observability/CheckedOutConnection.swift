/// One current holder of a QueuePool connection, from ``QueuePool/checkedOutConnections()``.
public struct CheckedOutConnection: Sendable, CustomStringConvertible {
    /// Where the checkout was requested (`nil` for a connection the pool is opening for itself).
    public var site: CheckoutSite?
    /// How long it has been held.
    public var age: Duration

    /// `File.swift:42 held 3.2 seconds`
    public var description: String { "\(site?.description ?? "unknown site") held \(age)" }
}
