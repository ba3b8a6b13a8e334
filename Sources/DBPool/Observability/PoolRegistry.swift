import Dispatch

/// Pools keyed by their connection parameters, created on first use: SQLAlchemy 1.x's
/// `pool.manage()` / `_DBProxy`, done the Swift way.
///
/// ```swift
/// let registry = PoolRegistry<String, QueuePool<PostgresConnection>> { url in
///     try QueuePool(poolSize: 5, dialect: PostgresDialect()) { try PostgresConnection(url: url) }
/// }
/// let pool = try registry.pool(for: "postgresql://app@db/main")   // created once, then reused
/// ```
///
/// Get-or-create is thread-safe and never creates two pools for one key, even when many threads
/// ask for a new key at once: the first caller creates, the others wait for its result (or its
/// error, after which the next caller tries again). The factory runs outside the registry's
/// lock, so creating the pool for one key never holds up callers of other keys.
public final class PoolRegistry<Key: Hashable & Sendable, P: Pool>: Sendable {
    /// Makes the pool for a key; called once per key (again after a failure or a `dispose`).
    public typealias Factory = @Sendable (Key) throws -> P

    private enum Slot {
        case ready(P)
        case creating(Gate)
    }

    /// Lets callers of a key being created wait for the creator's result.
    // @unchecked Sendable: `outcome` is written once, before `group.leave()`, and read only after
    // `group.wait()` returns, which orders the read after the write.
    private final class Gate: @unchecked Sendable {
        private let group = DispatchGroup()
        private var outcome: Result<P, any Error>?

        init() { group.enter() }

        func finish(_ result: Result<P, any Error>) {
            outcome = result
            group.leave()
        }

        func wait() -> Result<P, any Error> {
            group.wait()
            return outcome!
        }
    }

    private enum Step { case use(P), wait(Gate), create(Gate) }

    private let factory: Factory
    private let slots = Locked<[Key: Slot]>([:])

    /// Creates a registry that makes pools with `factory`.
    public init(factory: @escaping Factory) {
        self.factory = factory
    }

    /// The pool for `key`, created by the factory on first use.
    public func pool(for key: Key) throws -> P {
        let step: Step = slots.withLock { slots in
            switch slots[key] {
            case let .ready(pool): return .use(pool)
            case let .creating(gate): return .wait(gate)
            case nil:
                let gate = Gate()
                slots[key] = .creating(gate)
                return .create(gate)
            }
        }
        switch step {
        case let .use(pool):
            return pool
        case let .wait(gate):
            return try gate.wait().get()
        case let .create(gate):
            let result = Result { try factory(key) }
            slots.withLock { slots in
                switch result {
                case let .success(pool): slots[key] = .ready(pool)
                case .failure: slots[key] = nil
                }
            }
            gate.finish(result)
            return try result.get()
        }
    }

    /// The keys with a pool now.
    public var keys: [Key] {
        slots.withLock { slots in slots.compactMap { key, slot in if case .ready = slot { return key } else { return nil } } }
    }

    /// Disposes of the pool for `key` and forgets it; the next `pool(for:)` makes a new one.
    /// Returns whether there was one.
    @discardableResult
    public func dispose(_ key: Key) -> Bool {
        let removed: P? = slots.withLock { slots in
            guard case let .ready(pool) = slots[key] else { return nil }
            slots[key] = nil
            return pool
        }
        removed?.dispose()
        return removed != nil
    }

    /// Disposes of every pool and forgets them all.
    public func disposeAll() {
        let pools: [P] = slots.withLock { slots in
            let ready = slots.values.compactMap { slot -> P? in if case let .ready(pool) = slot { return pool } else { return nil } }
            slots = slots.filter { _, slot in if case .creating = slot { return true } else { return false } }
            return ready
        }
        for pool in pools { pool.dispose() }
    }
}
