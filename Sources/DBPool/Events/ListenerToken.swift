/// Identifies one registered listener, so that it can be removed with ``PoolEvents/remove(_:)``.
public struct ListenerToken: Hashable, Sendable {
    let id: Int
}
