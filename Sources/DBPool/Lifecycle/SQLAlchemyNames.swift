/// SQLAlchemy 2's public name for the checkout proxy (`PoolProxiedConnection`), for readers who
/// look for it; the same type as ``ConnectionFairy``, whose name SQLAlchemy 1.x's docs and
/// internals use.
public typealias PoolProxiedConnection<Connection> = ConnectionFairy<Connection>

/// SQLAlchemy 2's public name for a pool slot (`ConnectionPoolEntry`); the same type as
/// ``ConnectionRecord`` (SQLAlchemy's `_ConnectionRecord`).
public typealias ConnectionPoolEntry<Connection> = ConnectionRecord<Connection>
