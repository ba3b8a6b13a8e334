import DBPool
import DBPoolTesting

/// The pools' semantics, written as plainly as possible and independently of the core's code, for
/// ModelBasedTests to compare a real pool against.
final class ReferenceModel {
    let config: ModelConfig
    var pools: [MPool] = []
    var conns: [MConn] = []
    var events: [ModelEvent] = []
    var now = 0
    var pendingConnectFailures = 0
    var connectAttempts = 0
    var fairyCount = 0

    init(config: ModelConfig) {
        self.config = config
        pools = [MPool(kind: config.kind)]
    }

    var current: MPool { pools[pools.count - 1] }

    private func emit(_ name: String, _ conn: Int?) { events.append(ModelEvent(name: name, conn: conn)) }

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

    // Record: connect, close, invalidate, recycle.

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

    // Checkout, with pre-ping and its one retry; the test's recorder always has a checkout listener.

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

    // Pool kinds: where a checkout finds its record, and where a returned record goes.

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

    // Fairy: close (with reset on return), invalidate, detach.

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
