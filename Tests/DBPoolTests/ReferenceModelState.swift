import DBPool
import DBPoolTesting

// The state of ReferenceModel: pools, records, fairies and driver connections as the model sees
// them, and what a step can produce.

enum ModelPoolKind: String, CaseIterable {
    case queue = "QueuePool", null = "NullPool", staticPool = "StaticPool"
    case assertion = "AssertionPool", singletonThread = "SingletonThreadPool"
}

struct ModelConfig: CustomStringConvertible {
    var kind: ModelPoolKind
    var size = 0
    var overflow = 0
    var lifo = false
    var recycle: Int?
    var prePing = false
    var reset: ResetOnReturn = .rollback

    var description: String {
        var s = "\(kind.rawValue)"
        if kind == .queue { s += "(size: \(size), overflow: \(overflow), lifo: \(lifo))" }
        s += " recycle: \(recycle.map { "\($0)s" } ?? "nil"), prePing: \(prePing), reset: \(reset)"
        return s
    }
}

struct ModelEvent: Equatable, CustomStringConvertible {
    var name: String
    var conn: Int?
    var description: String { "\(name)(\(conn.map { "c\($0)" } ?? "nil"))" }
}

enum ModelOutcome: Equatable, CustomStringConvertible {
    case fairy(Int)  // index of the (model) fairy in the run's fairy table
    case timeout, alreadyCheckedOut, connectFailed, unexpected(String)
    var description: String {
        switch self {
        case let .fairy(i): "fairy f\(i)"
        case .timeout: "PoolError.timeout"
        case .alreadyCheckedOut: "PoolError.alreadyCheckedOut"
        case .connectFailed: "MockError(connect failed)"
        case let .unexpected(s): "unexpected error \(s)"
        }
    }
}

struct ModelFailure: Error { var outcome: ModelOutcome }

extension ModelOutcome {
    var kindName: String {
        switch self {
        case .fairy: "fairy"
        case .timeout: "timeout"
        case .alreadyCheckedOut: "alreadyCheckedOut"
        case .connectFailed: "connectFailed"
        case .unexpected: "unexpected"
        }
    }
}

final class MPool {
    let kind: ModelPoolKind
    var generation = 0
    var firstConnectDone = false
    // QueuePool
    var idle: [MRecord] = []
    var open = 0
    // StaticPool, AssertionPool, SingletonThreadPool (one thread)
    var record: MRecord?
    var checkedOutFlag = false
    var threadFairy: MFairy?
    init(kind: ModelPoolKind) { self.kind = kind }
}

final class MRecord {
    unowned let pool: MPool
    var conn: Int?
    var start = 0
    var generation = 0
    var soft = false
    var fresh = false
    var holders = 0
    init(pool: MPool) { self.pool = pool }
}

final class MFairy {
    unowned let pool: MPool
    let index: Int
    var conn: Int?
    var record: MRecord?
    var counter = 1
    var detached = false
    init(pool: MPool, index: Int, conn: Int, record: MRecord) {
        self.pool = pool
        self.index = index
        self.conn = conn
        self.record = record
    }
}

struct MConn {
    var closeCount = 0
    /// Closed by its record (invalidation, dispose, recycle) while a fairy may still hold it:
    /// that fairy is no longer valid and never calls the driver on it again.
    var closedByRecord = false
    var dropped = false
    var failReset = false
}
