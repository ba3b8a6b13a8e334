import DBPool
import DBPoolTesting
import Foundation

// MARK: - Operations

enum ModelOp: CustomStringConvertible {
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

final class ModelSequence {
    let seed: UInt64
    let config: ModelConfig
    let steps: Int
    let trace: Bool
    var random: ChaosRandom
    let model: ReferenceModel
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

    init(seed: UInt64, kind: ModelPoolKind, steps: Int, trace: Bool) throws {
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
        model = ReferenceModel(config: config)
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
    func nextOp() -> ModelOp {
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

    func apply(_ op: ModelOp, step: Int) -> String? {
        history.append("\(step): \(op)")
        if trace { print("[model] \(step): \(op)") }
        recorder.clear()
        model.events = []
        var expected: ModelOutcome?
        var actual: ModelOutcome?
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
        let actualEvents = recorder.events.map { e -> ModelEvent in
            let conn: Int? =
                e.connectionWasNil
                ? nil
                : e.connectionID.flatMap { id in
                    if let i = idToIndex[id] { return i }
                    for (i, c) in dbapi.connections.enumerated() { idToIndex[c.id] = i }
                    return idToIndex[id] ?? -1
                }
            return ModelEvent(name: e.name, conn: conn)
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
