import XCTest
import Foundation
import DBPool
import DBPoolTesting

// Model-based randomized tests (issue 5).
//
// A small reference model of the pool semantics (spec §3, §4, §5, §6) runs next to a real pool.
// Random sequences of operations (connect, close, special close, hard and soft invalidation,
// pool-wide invalidation, detach, dispose, recreate, clock advances, and driver faults: a failing
// connect, a dropped connection, a failing rollback/commit, a throwing close) are applied to both,
// and after every step the test compares:
//
// - the outcome (a fairy, the same fairy again for a nested SingletonThreadPool checkout, or
//   which error);
// - the events fired during the step, in order, with the connection each one carried;
// - which driver connection each holder has, and whether it is valid and detached;
// - how many times each driver connection has been closed, and how many connects were tried;
// - QueuePool's checkedIn / checkedOut / overflow / waiting.
//
// At the end of each sequence every holder closes, every pool instance is disposed, and every
// driver connection must have been closed exactly once.
//
// Each test runs several hundred sequences from fixed seeds and more from one fresh seed, which
// is printed. A failure names the sequence seed; replay it alone, with a step-by-step trace, by
// setting DBPOOL_MODEL_REPLAY=<sequence seed>.
//
// Deliberately outside the model (each would make a connection leak or close twice, so the
// generator avoids it):
// - detaching a record that other fairies share (StaticPool, AssertionPool after dispose);
// - recycle on StaticPool, whose one record is shared by every holder.

// MARK: - The reference model

private enum Kind: String, CaseIterable {
    case queue = "QueuePool", null = "NullPool", staticPool = "StaticPool"
    case assertion = "AssertionPool", singletonThread = "SingletonThreadPool"
}

private struct ModelConfig: CustomStringConvertible {
    var kind: Kind
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

private struct Ev: Equatable, CustomStringConvertible {
    var name: String
    var conn: Int?
    var description: String { "\(name)(\(conn.map { "c\($0)" } ?? "nil"))" }
}

private enum Outcome: Equatable, CustomStringConvertible {
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

private struct ModelFailure: Error { var outcome: Outcome }

extension Outcome {
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

private final class MPool {
    let kind: Kind
    var generation = 0
    var firstConnectDone = false
    // QueuePool
    var idle: [MRecord] = []
    var open = 0
    // StaticPool, AssertionPool, SingletonThreadPool (one thread)
    var record: MRecord?
    var checkedOutFlag = false
    var threadFairy: MFairy?
    init(kind: Kind) { self.kind = kind }
}

private final class MRecord {
    unowned let pool: MPool
    var conn: Int?
    var start = 0
    var generation = 0
    var soft = false
    var fresh = false
    var holders = 0
    init(pool: MPool) { self.pool = pool }
}

private final class MFairy {
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

private struct MConn {
    var closeCount = 0
    /// Closed by its record (invalidation, dispose, recycle) while a fairy may still hold it:
    /// that fairy is no longer valid and never calls the driver on it again.
    var closedByRecord = false
    var dropped = false
    var failReset = false
}

/// The semantics, written as plainly as possible from the spec, independent of the core's code.
private final class Model {
    let config: ModelConfig
    var pools: [MPool] = []
    var conns: [MConn] = []
    var events: [Ev] = []
    var now = 0
    var pendingConnectFailures = 0
    var connectAttempts = 0
    var fairyCount = 0

    init(config: ModelConfig) {
        self.config = config
        pools = [MPool(kind: config.kind)]
    }

    var current: MPool { pools[pools.count - 1] }

    private func emit(_ name: String, _ conn: Int?) { events.append(Ev(name: name, conn: conn)) }

    // Driver.

    private func creator() throws -> Int {
        connectAttempts += 1
        if pendingConnectFailures > 0 {
            pendingConnectFailures -= 1
            throw ModelFailure(outcome: .connectFailed)
        }
        conns.append(MConn())
        return conns.count - 1
    }

    private func closeDriver(_ c: Int) { conns[c].closeCount += 1 }

    // Record (spec §6.1).

    private func connect(_ r: MRecord) throws {
        r.conn = nil
        r.start = now
        r.generation = r.pool.generation
        let c = try creator()
        r.conn = c
        r.fresh = true
        r.soft = false
        if !r.pool.firstConnectDone {
            emit("first_connect", c)
            r.pool.firstConnectDone = true
        }
        emit("connect", c)
    }

    private func newRecord(_ pool: MPool) throws -> MRecord {
        let r = MRecord(pool: pool)
        try connect(r)
        return r
    }

    private func closeConnection(_ r: MRecord) {
        guard let c = r.conn else { return }
        emit("close", c)
        r.conn = nil
        conns[c].closedByRecord = true
        closeDriver(c)
    }

    private func invalidate(_ r: MRecord, soft: Bool) {
        guard let c = r.conn else { return }
        if soft {
            emit("soft_invalidate", c)
            r.soft = true
        } else {
            emit("invalidate", c)
            closeConnection(r)
        }
    }

    private func needsReplacing(_ r: MRecord) -> Bool {
        if let recycle = config.recycle, now - r.start > recycle { return true }
        return r.generation < r.pool.generation || r.soft
    }

    private func getConnection(_ r: MRecord) throws -> Int {
        if r.conn != nil, needsReplacing(r) { closeConnection(r) }
        if r.conn == nil { try connect(r) }
        return r.conn!
    }

    private func checkin(_ r: MRecord, from f: MFairy?) {
        emit("checkin", r.conn)
        returnRecord(r, from: f)
    }

    private func advanceGeneration(_ pool: MPool, triggeredBy r: MRecord?) {
        if let r, r.generation < pool.generation { return }
        pool.generation += 1
    }

    // Checkout (spec §6.3); the test's recorder always has a checkout listener.

    private func checkoutRecord(_ r: MRecord) throws -> MFairy {
        r.holders += 1
        let c: Int
        do {
            c = try getConnection(r)
        } catch {
            failCheckout(r)
            throw error
        }
        fairyCount += 1
        let f = MFairy(pool: r.pool, index: fairyCount - 1, conn: c, record: r)
        var attempts = 2
        while attempts > 0 {
            let conn = f.conn!
            let fresh = r.fresh
            r.fresh = false
            if config.prePing && !fresh && conns[conn].dropped {
                invalidate(r, soft: false)
                advanceGeneration(r.pool, triggeredBy: r)
                do {
                    f.conn = try getConnection(r)
                } catch {
                    f.conn = nil
                    f.record = nil
                    f.counter = 0
                    failCheckout(r)
                    throw error
                }
                attempts -= 1
                continue
            }
            emit("checkout", conn)
            return f
        }
        fatalError("model: the checkout loop cannot run out without a throwing checkout listener")
    }

    private func failCheckout(_ r: MRecord) {
        invalidate(r, soft: false)
        r.holders -= 1
        checkin(r, from: nil)
    }

    // Pool kinds (spec §4, §5).

    func connect() throws -> MFairy {
        let pool = current
        switch pool.kind {
        case .queue:
            if !pool.idle.isEmpty {
                let r = config.lifo ? pool.idle.removeLast() : pool.idle.removeFirst()
                return try checkoutRecord(r)
            }
            let unlimited = config.size == 0 || config.overflow < 0
            guard unlimited || pool.open < config.size + config.overflow else {
                throw ModelFailure(outcome: .timeout)
            }
            pool.open += 1
            let r: MRecord
            do {
                r = try newRecord(pool)
            } catch {
                pool.open -= 1
                throw error
            }
            return try checkoutRecord(r)
        case .null:
            return try checkoutRecord(newRecord(pool))
        case .staticPool:
            if let r = pool.record, r.conn == nil || r.soft || r.generation < pool.generation {
                pool.record = nil
                if r.holders == 0 { closeConnection(r) }
            }
            if pool.record == nil { pool.record = try newRecord(pool) }
            return try checkoutRecord(pool.record!)
        case .assertion:
            if pool.checkedOutFlag { throw ModelFailure(outcome: .alreadyCheckedOut) }
            if pool.record == nil { pool.record = try newRecord(pool) }
            pool.checkedOutFlag = true
            return try checkoutRecord(pool.record!)
        case .singletonThread:
            if let f = pool.threadFairy, f.counter > 0 {
                f.counter += 1
                return f
            }
            if pool.record == nil { pool.record = try newRecord(pool) }
            let f = try checkoutRecord(pool.record!)
            pool.threadFairy = f
            return f
        }
    }

    /// The pool's one return path: `f` is the fairy whose checkout ends (`nil` for a failed
    /// checkout). A SingletonThreadPool forgets it as its thread's current fairy, on detach too.
    private func returnRecord(_ r: MRecord, from f: MFairy?) {
        if let f, f.pool.kind == .singletonThread, f.pool.threadFairy === f { f.pool.threadFairy = nil }
        let pool = r.pool
        switch pool.kind {
        case .queue:
            if config.size == 0 || pool.idle.count < config.size {
                pool.idle.append(r)
            } else {
                closeConnection(r)
                pool.open -= 1
            }
        case .null:
            closeConnection(r)
        case .staticPool:
            if r !== pool.record && r.holders == 0 { closeConnection(r) }
        case .assertion:
            pool.checkedOutFlag = false
        case .singletonThread:
            break
        }
    }

    func dispose(_ pool: MPool) {
        switch pool.kind {
        case .queue:
            // Taken out one by one, as checkouts would take them.
            for r in config.lifo ? pool.idle.reversed() : pool.idle { closeConnection(r) }
            pool.open -= pool.idle.count
            pool.idle = []
        case .null:
            break
        case .staticPool, .singletonThread:
            if let r = pool.record { closeConnection(r) }
            pool.record = nil
        case .assertion:
            pool.checkedOutFlag = false
            if let r = pool.record { closeConnection(r) }
        }
    }

    func recreate() { pools.append(MPool(kind: config.kind)) }

    // Fairy (spec §6.2, §6.4, §6.7).

    func close(_ f: MFairy, transactionWasReset: Bool = false) {
        guard f.counter > 0 else { return }
        f.counter -= 1
        guard f.counter == 0 else { return }
        finishReturn(f, transactionWasReset: transactionWasReset)
    }

    private func finishReturn(_ f: MFairy, transactionWasReset: Bool) {
        let r = f.record
        if let c = f.conn, !conns[c].closedByRecord { reset(c, record: r, transactionWasReset: transactionWasReset) }
        f.conn = nil
        f.record = nil
        if let r {
            r.holders -= 1
            checkin(r, from: f)
        }
    }

    private func reset(_ c: Int, record r: MRecord?, transactionWasReset: Bool) {
        emit("reset", c)
        let failing = conns[c].dropped || conns[c].failReset
        var failed = false
        switch config.reset {
        case .rollback: failed = !transactionWasReset && failing
        case .commit: failed = failing
        case .noAction: break
        }
        if failed, let r { invalidate(r, soft: false) }
        // A detached connection is closed whatever happened to its reset.
        if r == nil {
            emit("close_detached", c)
            closeDriver(c)
        }
    }

    func invalidate(_ f: MFairy, soft: Bool) {
        guard let c = f.conn else { return }
        if let r = f.record {
            invalidate(r, soft: soft)
        } else if !soft && !conns[c].closedByRecord {
            closeDriver(c)
        }
        guard !soft else { return }
        f.conn = nil
        f.counter = 0
        finishReturn(f, transactionWasReset: false)
    }

    func invalidateAll(triggeredBy f: MFairy?) {
        advanceGeneration(current, triggeredBy: f?.record)
        if let f, isValid(f) { invalidate(f, soft: false) }
    }

    func detach(_ f: MFairy) {
        guard let r = f.record, f.counter > 0 else { return }
        r.conn = nil
        r.holders -= 1
        f.detached = true
        f.record = nil
        returnRecord(r, from: f)
        // SQLAlchemy fires it with the fairy's own connection, even one its record has closed.
        if let c = f.conn { emit("detach", c) }
    }

    func isValid(_ f: MFairy) -> Bool {
        guard let c = f.conn else { return false }
        return !conns[c].closedByRecord
    }

    /// Whether detaching `f` stays inside the model: not a record other fairies share (see the
    /// file comment).
    func canDetach(_ f: MFairy) -> Bool {
        guard let r = f.record, f.counter > 0 else { return true }
        // A record that closed the fairy's connection under it (dispose) holds none: detach then
        // fires with the fairy's connection and leaves nothing to close.
        return r.holders == 1 && f.conn != nil && (r.conn == f.conn || r.conn == nil)
    }
}

// MARK: - Operations

private enum Op: CustomStringConvertible {
    case connect
    case close(Int), closeSpecial(Int), invalidate(Int), softInvalidate(Int), detach(Int)
    case invalidateAll(Int?)
    case dispose, recreate
    case advance(Int)
    case failNextConnect, drop(Int), failReset(Int), failClose(Int)

    var kindName: String {
        switch self {
        case .connect: "connect"
        case .close: "close"
        case .closeSpecial: "closeSpecial"
        case .invalidate: "invalidate"
        case .softInvalidate: "softInvalidate"
        case .detach: "detach"
        case .invalidateAll: "invalidateAll"
        case .dispose: "dispose"
        case .recreate: "recreate"
        case .advance: "advanceClock"
        case .failNextConnect: "failNextConnect"
        case .drop: "drop"
        case .failReset: "failReset"
        case .failClose: "failClose"
        }
    }

    var description: String {
        switch self {
        case .connect: "connect"
        case let .close(h): "close(h\(h))"
        case let .closeSpecial(h): "close(h\(h), transactionWasReset: true)"
        case let .invalidate(h): "invalidate(h\(h))"
        case let .softInvalidate(h): "invalidate(h\(h), soft: true)"
        case let .detach(h): "detach(h\(h))"
        case let .invalidateAll(h): "invalidateAll(triggeredBy: \(h.map { "h\($0)" } ?? "nil"))"
        case .dispose: "dispose"
        case .recreate: "recreate"
        case let .advance(s): "clock.advance(\(s)s)"
        case .failNextConnect: "dbapi.failNextConnects(1)"
        case let .drop(c): "c\(c).drop()"
        case let .failReset(c): "c\(c).failRollback/failCommit"
        case let .failClose(c): "c\(c).failClose"
        }
    }
}

// MARK: - One sequence against a real pool

private final class Sequence {
    let seed: UInt64
    let config: ModelConfig
    let steps: Int
    let trace: Bool
    var random: ChaosRandom
    let model: Model
    let dbapi = MockDBAPI()
    let clock = ManualClock()
    let recorder = EventRecorder()
    var pools: [any Pool<MockConnection>] = []
    /// Holders: index into `fairies`; several holders share a fairy after nested checkouts.
    var holders: [Int] = []
    var fairies: [(real: ConnectionFairy<MockConnection>, model: MFairy)] = []
    var history: [String] = []
    /// How often each operation and each connect outcome occurred, for the coverage summary.
    var tally: [String: Int] = [:]
    var idToIndex: [Int: Int] = [:]

    init(seed: UInt64, kind: Kind, steps: Int, trace: Bool) throws {
        self.seed = seed
        self.steps = steps
        self.trace = trace
        var random = ChaosRandom(seed: seed)
        var config = ModelConfig(kind: kind)
        if kind == .queue {
            config.size = random.next(below: 4)  // 0 (unlimited) ... 3
            config.overflow = random.next(below: 4) - 1  // -1 (unlimited) ... 2
            config.lifo = random.chance(1, in: 2)
        }
        if kind != .staticPool && random.chance(2, in: 3) { config.recycle = 10 }
        config.prePing = random.chance(1, in: 2)
        config.reset = random.pick([ResetOnReturn.rollback, .rollback, .commit, .noAction])
        self.random = random
        self.config = config
        model = Model(config: config)
        pools = [try makePool()]
        recorder.attach(to: pools[0].events)
    }

    func makePool() throws -> any Pool<MockConnection> {
        let options = PoolOptions(
            recycle: config.recycle.map { .seconds($0) }, resetOnReturn: config.reset, prePing: config.prePing,
            clock: clock, logHandler: .disabled)
        let dialect = MockDialect()
        switch config.kind {
        case .queue:
            return try QueuePool(
                poolSize: config.size, maxOverflow: config.overflow, timeout: .zero, useLIFO: config.lifo,
                options: options, dialect: dialect, creator: dbapi.creator())
        case .null: return try NullPool(options: options, dialect: dialect, creator: dbapi.creator())
        case .staticPool: return try StaticPool(options: options, dialect: dialect, creator: dbapi.creator())
        case .assertion: return try AssertionPool(options: options, dialect: dialect, creator: dbapi.creator())
        case .singletonThread: return try SingletonThreadPool(poolSize: 2, options: options, dialect: dialect, creator: dbapi.creator())
        }
    }

    var header: String { "sequence seed \(seed) [\(config)] (replay: DBPOOL_MODEL_REPLAY=\(seed))" }

    /// Runs the sequence; returns a failure description, or nil.
    func run() -> String? {
        for step in 0..<steps {
            let op = nextOp()
            if let failure = apply(op, step: step) { return failure }
        }
        // Teardown: every holder closes, every pool instance is disposed.
        pruning = false
        for h in holders.indices {
            if let failure = apply(.close(h), step: steps + h) { return failure }
        }
        for (i, pool) in pools.enumerated() {
            recorder.clear()
            model.events = []
            pool.dispose()
            model.dispose(model.pools[i])
            if let failure = compare(step: -1, op: "dispose(pool \(i)) at teardown", outcomeMismatch: nil) { return failure }
        }
        let unclosed = dbapi.connections.enumerated().filter { $0.element.closeCount != 1 }
        if !unclosed.isEmpty {
            return report(
                step: -1, op: "teardown",
                "after teardown every connection must be closed exactly once; got "
                    + unclosed.map { "c\($0.offset): \($0.element.closeCount) closes" }.joined(separator: ", "))
        }
        return nil
    }

    // Generation: weights chosen so that pools reach their limits and every path is visited.
    func nextOp() -> Op {
        let live = holders.indices.filter { fairies[holders[$0]].model.counter > 0 }
        let anyHolder = holders.isEmpty ? nil : random.next(below: holders.count)
        let liveHolder = live.isEmpty ? anyHolder : (random.chance(5, in: 6) ? random.pick(live) : anyHolder)
        let openConns = model.conns.indices.filter { model.conns[$0].closeCount == 0 }
        for _ in 0..<20 {
            let roll = random.next(below: 100)
            switch roll {
            case 0..<30 where live.count < 7:
                return .connect
            case 30..<48:
                if let h = liveHolder { return .close(h) }
            case 48..<51:
                if let h = liveHolder { return .closeSpecial(h) }
            case 51..<58:
                if let h = liveHolder { return .invalidate(h) }
            case 58..<63:
                if let h = liveHolder { return .softInvalidate(h) }
            case 63..<68:
                if let h = liveHolder, model.canDetach(fairies[holders[h]].model) { return .detach(h) }
            case 68..<72:
                let candidates = holders.indices.filter { fairies[holders[$0]].model.pool === model.current }
                return .invalidateAll(random.chance(1, in: 3) || candidates.isEmpty ? nil : random.pick(candidates))
            case 72..<75:
                return .dispose
            case 75..<77:
                return .recreate
            case 77..<85:
                return .advance(random.next(below: 16))
            case 85..<90:
                return .failNextConnect
            case 90..<94:
                if !openConns.isEmpty { return .drop(random.pick(openConns)) }
            case 94..<97:
                if !openConns.isEmpty { return .failReset(random.pick(openConns)) }
            case 97..<100:
                if !openConns.isEmpty { return .failClose(random.pick(openConns)) }
            default:
                break
            }
        }
        return .advance(1)
    }

    func apply(_ op: Op, step: Int) -> String? {
        history.append("\(step): \(op)")
        if trace { print("[model] \(step): \(op)") }
        recorder.clear()
        model.events = []
        var expected: Outcome?
        var actual: Outcome?
        switch op {
        case .connect:
            let pool = pools[pools.count - 1]
            var newModel: MFairy?
            do {
                let m = try model.connect()
                if let existing = fairies.firstIndex(where: { $0.model === m }) {
                    expected = .fairy(existing)
                } else {
                    expected = .fairy(fairies.count)
                    newModel = m
                }
            } catch let failure as ModelFailure {
                expected = failure.outcome
            } catch {
                expected = .unexpected("\(error)")
            }
            do {
                let real = try pool.connect()
                if let existing = fairies.firstIndex(where: { $0.real === real }) {
                    actual = .fairy(existing)
                    holders.append(existing)
                } else if let newModel {
                    actual = .fairy(fairies.count)
                    fairies.append((real, newModel))
                    holders.append(fairies.count - 1)
                } else {
                    // Keep the real fairy alive until the report is written, then give it back.
                    defer { real.close() }
                    return report(step: step, op: "\(op)", "outcome: expected \(expected!), got a new fairy over \(real.dbapiConnection.map { "\($0)" } ?? "nil")")
                }
            } catch let error as PoolError {
                switch error {
                case .timeout: actual = .timeout
                case .alreadyCheckedOut: actual = .alreadyCheckedOut
                default: actual = .unexpected("\(error)")
                }
            } catch is MockError {
                actual = .connectFailed
            } catch {
                actual = .unexpected("\(error)")
            }
        case let .close(h):
            fairies[holders[h]].real.close()
            model.close(fairies[holders[h]].model)
        case let .closeSpecial(h):
            fairies[holders[h]].real.close(transactionWasReset: true)
            model.close(fairies[holders[h]].model, transactionWasReset: true)
        case let .invalidate(h):
            fairies[holders[h]].real.invalidate(MockError("model invalidate"))
            model.invalidate(fairies[holders[h]].model, soft: false)
        case let .softInvalidate(h):
            fairies[holders[h]].real.invalidate(MockError("model soft invalidate"), soft: true)
            model.invalidate(fairies[holders[h]].model, soft: true)
        case let .detach(h):
            fairies[holders[h]].real.detach()
            model.detach(fairies[holders[h]].model)
        case let .invalidateAll(h):
            pools[pools.count - 1].invalidateAll(triggeredBy: h.map { fairies[holders[$0]].real }, error: MockError("model invalidateAll"))
            model.invalidateAll(triggeredBy: h.map { fairies[holders[$0]].model })
        case .dispose:
            pools[pools.count - 1].dispose()
            model.dispose(model.current)
        case .recreate:
            pools.append(pools[pools.count - 1].recreate())
            model.recreate()
        case let .advance(seconds):
            clock.advance(by: .seconds(seconds))
            model.now += seconds
        case .failNextConnect:
            dbapi.failNextConnects(1)
            model.pendingConnectFailures += 1
        case let .drop(c):
            dbapi.connections[c].drop()
            model.conns[c].dropped = true
        case let .failReset(c):
            let failure: MockFailure = random.chance(1, in: 2) ? .disconnect : .error
            dbapi.connections[c].failRollback = failure
            dbapi.connections[c].failCommit = failure
            model.conns[c].failReset = true
        case let .failClose(c):
            dbapi.connections[c].failClose = true
        }
        if let actual { tally["connect -> \(actual.kindName)", default: 0] += 1 } else { tally[op.kindName, default: 0] += 1 }
        let mismatch = expected == actual ? nil : "outcome: expected \(expected!), got \(actual!)"
        if let failure = compare(step: step, op: "\(op)", outcomeMismatch: mismatch) { return failure }
        pruneHolders()
        return nil
    }

    var pruning = true

    private func pruneHolders() {
        guard pruning else { return }
        // Keep the holder list short: forget finished holders beyond the four most recent.
        let finished = holders.indices.filter { fairies[holders[$0]].model.counter == 0 }
        if finished.count > 4 {
            let drop = Set(finished.prefix(finished.count - 4))
            holders = holders.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
        }
    }

    private func index(of connection: MockConnection?) -> Int? {
        guard let connection else { return nil }
        if let i = idToIndex[connection.id] { return i }
        for (i, c) in dbapi.connections.enumerated() { idToIndex[c.id] = i }
        return idToIndex[connection.id] ?? -1
    }

    func compare(step: Int, op: String, outcomeMismatch: String?) -> String? {
        var problems: [String] = []
        if let outcomeMismatch { problems.append(outcomeMismatch) }
        let actualEvents = recorder.events.map { e -> Ev in
            let conn: Int? =
                e.connectionWasNil
                ? nil
                : e.connectionID.flatMap { id in
                    if let i = idToIndex[id] { return i }
                    for (i, c) in dbapi.connections.enumerated() { idToIndex[c.id] = i }
                    return idToIndex[id] ?? -1
                }
            return Ev(name: e.name, conn: conn)
        }
        if actualEvents != model.events {
            problems.append("events: expected \(model.events), got \(actualEvents)")
        }
        for (i, pair) in fairies.enumerated() {
            let real = pair.real, m = pair.model
            let conn = index(of: real.dbapiConnection)
            if conn != m.conn || real.isValid != model.isValid(m) || (real.record != nil) != (m.record != nil) || real.isDetached != m.detached {
                problems.append(
                    "fairy f\(i): expected conn \(m.conn.map { "c\($0)" } ?? "nil"), record \(m.record != nil), detached \(m.detached); "
                        + "got conn \(conn.map { "c\($0)" } ?? "nil"), record \(real.record != nil), detached \(real.isDetached)")
            }
        }
        let connections = dbapi.connections
        if connections.count != model.conns.count || dbapi.connectCount != model.connectAttempts {
            problems.append("driver: expected \(model.conns.count) connections from \(model.connectAttempts) connects, got \(connections.count) from \(dbapi.connectCount)")
        } else {
            let actualCloses = connections.map(\.closeCount)
            let expectedCloses = model.conns.map(\.closeCount)
            if actualCloses != expectedCloses {
                problems.append("close counts: expected \(expectedCloses), got \(actualCloses)")
            }
        }
        for (i, pool) in pools.enumerated() {
            guard let queue = pool as? QueuePool<MockConnection> else { continue }
            let m = model.pools[i]
            let expected = [m.idle.count, m.open - m.idle.count, config.size > 0 ? m.open - config.size : 0, 0]
            let actual = [queue.checkedIn, queue.checkedOut, queue.overflow, queue.waiting]
            if expected != actual {
                problems.append("pool \(i) counters [checkedIn, checkedOut, overflow, waiting]: expected \(expected), got \(actual)")
            }
        }
        guard !problems.isEmpty else { return nil }
        return report(step: step, op: op, problems.joined(separator: "\n  "))
    }

    func report(step: Int, op: String, _ text: String) -> String {
        "\(header)\n step \(step) (\(op)):\n  \(text)\n last operations:\n  " + history.suffix(15).joined(separator: "\n  ")
    }
}

// MARK: - The tests

final class ModelBasedTests: XCTestCase {
    /// Fixed base seeds: the same sequences every run.
    private static let fixedSeeds: [UInt64] = [0x5EED_0001, 0x5EED_0002]
    private static let stepsPerSequence = 40

    /// One fresh base seed per process, printed once.
    private static let freshSeed: UInt64 = {
        if let text = ProcessInfo.processInfo.environment["DBPOOL_MODEL_SEED"], let seed = UInt64(text) { return seed }
        return UInt64.random(in: 0...UInt64.max)
    }()

    private func check(_ kind: Kind, fixedPerSeed: Int, fresh: Int, file: StaticString = #filePath, line: UInt = #line) {
        if let text = ProcessInfo.processInfo.environment["DBPOOL_MODEL_REPLAY"], let seed = UInt64(text) {
            // Replay one sequence with a trace (for every kind; the seed fixes the configuration).
            do {
                let sequence = try Sequence(seed: seed, kind: kind, steps: Self.stepsPerSequence, trace: true)
                if let failure = sequence.run() { XCTFail(failure, file: file, line: line) }
            } catch {
                XCTFail("replay \(seed): \(error)", file: file, line: line)
            }
            return
        }
        print("[ModelBasedTests] \(kind.rawValue): fresh base seed \(Self.freshSeed) (replay all with DBPOOL_MODEL_SEED=\(Self.freshSeed))")
        var plan: [(base: UInt64, count: Int)] = Self.fixedSeeds.map { ($0, fixedPerSeed) }
        plan.append((Self.freshSeed, fresh))
        var failures = 0
        var sequences = 0
        var tally: [String: Int] = [:]
        defer {
            print("[ModelBasedTests] \(kind.rawValue): \(sequences) sequences; " + tally.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
        }
        for (base, count) in plan {
            for i in 0..<count {
                let seed = ChaosRandom.derive(base ^ UInt64(Kind.allCases.firstIndex(of: kind)!), UInt64(i))
                sequences += 1
                do {
                    let sequence = try Sequence(seed: seed, kind: kind, steps: Self.stepsPerSequence, trace: false)
                    let failure = sequence.run()
                    tally.merge(sequence.tally, uniquingKeysWith: +)
                    if let failure {
                        failures += 1
                        XCTFail("base seed \(base), sequence \(i): \(failure)", file: file, line: line)
                    }
                } catch {
                    failures += 1
                    XCTFail("base seed \(base), sequence \(i), seed \(seed): pool creation threw \(error)", file: file, line: line)
                }
                if failures >= 3 { return }
            }
        }
        XCTAssertGreaterThan(sequences, 0)
    }

    func testQueuePoolAgainstModel() { check(.queue, fixedPerSeed: 500, fresh: 300) }
    func testNullPoolAgainstModel() { check(.null, fixedPerSeed: 300, fresh: 200) }
    func testStaticPoolAgainstModel() { check(.staticPool, fixedPerSeed: 300, fresh: 200) }
    func testAssertionPoolAgainstModel() { check(.assertion, fixedPerSeed: 300, fresh: 200) }
    func testSingletonThreadPoolAgainstModel() { check(.singletonThread, fixedPerSeed: 300, fresh: 200) }
}
