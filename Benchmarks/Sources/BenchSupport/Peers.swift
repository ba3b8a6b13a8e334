import _ConnectionPoolModule
import AsyncKit
import NIOCore
import NIOPosix
import Logging
import Synchronization

// MARK: postgres-nio ConnectionPool (1.33.2, _ConnectionPoolModule)

/// The no-op connection for postgres-nio's pool: it only keeps the close callbacks, and calls
/// them on `close()`, which the pool needs to finish `run()`.
public final class PGNoOpConnection: PooledConnection {
    public typealias ID = Int
    public let id: Int
    private let state = Mutex<(closed: Bool, callbacks: [@Sendable ((any Error)?) -> Void])>((false, []))

    public init(id: Int) { self.id = id }

    public func onClose(_ closure: @escaping @Sendable ((any Error)?) -> Void) {
        let closed = state.withLock { state -> Bool in
            if !state.closed { state.callbacks.append(closure) }
            return state.closed
        }
        if closed { closure(nil) }
    }

    public func close() {
        let callbacks = state.withLock { state in
            state.closed = true
            defer { state.callbacks = [] }
            return state.callbacks
        }
        for callback in callbacks { callback(nil) }
    }
}

public typealias PGPool = ConnectionPool<
    PGNoOpConnection, Int, ConnectionIDGenerator, ConnectionRequest<PGNoOpConnection>, Int,
    NoOpKeepAliveBehavior<PGNoOpConnection>, NoOpConnectionPoolMetrics<Int>, ContinuousClock
>

/// A postgres-nio pool of exactly `size` connections (minimum = soft = hard limit), running for
/// the duration of `body`, with all `size` connections created before `body` starts.
public func withPGPool<R: Sendable>(size: Int, _ body: (PGPool) async throws -> R) async throws -> R {
    var configuration = ConnectionPoolConfiguration()
    configuration.minimumConnectionCount = size
    configuration.maximumConnectionSoftLimit = size
    configuration.maximumConnectionHardLimit = size
    let pool = PGPool(
        configuration: configuration,
        keepAliveBehavior: NoOpKeepAliveBehavior(connectionType: PGNoOpConnection.self),
        observabilityDelegate: NoOpConnectionPoolMetrics(connectionIDType: Int.self),
        clock: ContinuousClock()
    ) { id, _ in
        ConnectionAndMetadata(connection: PGNoOpConnection(id: id), maximalStreamsOnConnection: 1)
    }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await pool.run() }
        // Lease every connection at once, so all of them exist before measuring.
        var leases: [ConnectionLease<PGNoOpConnection>] = []
        for _ in 0..<size { leases.append(try await pool.leaseConnection()) }
        for lease in leases { lease.release() }
        let result = try await body(pool)
        group.cancelAll()
        try await group.waitForAll()
        return result
    }
}

// MARK: async-kit EventLoopConnectionPool (1.22.0)

/// The no-op connection for async-kit's pool.
public final class AKNoOpConnection: ConnectionPoolItem, @unchecked Sendable {
    public let eventLoop: any EventLoop
    public var isClosed = false
    public init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }
    public func close() -> EventLoopFuture<Void> {
        isClosed = true
        return eventLoop.makeSucceededVoidFuture()
    }
}

public struct AKNoOpSource: ConnectionPoolSource {
    public init() {}
    public func makeConnection(logger: Logger, on eventLoop: any EventLoop) -> EventLoopFuture<AKNoOpConnection> {
        eventLoop.makeSucceededFuture(AKNoOpConnection(eventLoop: eventLoop))
    }
}

/// One event loop for every async-kit pool in the process.
public let akGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

/// async-kit's pool is not Sendable; its own tests share it across tasks the same way.
public struct AKPool: @unchecked Sendable {
    public let pool: EventLoopConnectionPool<AKNoOpSource>
    public var eventLoop: any EventLoop { pool.eventLoop }
}

/// An async-kit pool of at most `size` connections on one event loop, with all of them created
/// before `body` starts, closed afterwards.
public func withAKPool<R: Sendable>(size: Int, _ body: (AKPool) async throws -> R) async throws -> R {
    let loop = akGroup.next()
    let pool = AKPool(pool: EventLoopConnectionPool(source: AKNoOpSource(), maxConnections: size, requestTimeout: .seconds(30), on: loop))
    var connections: [AKNoOpConnection] = []
    for _ in 0..<size { connections.append(try await pool.pool.requestConnection().get()) }
    for connection in connections { pool.pool.releaseConnection(connection) }
    do {
        let result = try await body(pool)
        try await pool.pool.close().get()
        return result
    } catch {
        try? await pool.pool.close().get()
        throw error
    }
}
