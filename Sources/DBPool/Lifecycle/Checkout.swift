/// The checkout steps shared by every pool kind, once the pool has picked a record:
/// reconnect if due, create the fairy, then pre-ping and the checkout listeners
/// (SQLAlchemy's `_ConnectionFairy._checkout`).
@usableFromInline
enum Checkout {
    /// SQLAlchemy runs the checkout listeners at most twice per checkout, whatever its docs say.
    @usableFromInline static let attempts = 2

    /// `record` is consumed: the fairy takes it over, so handing it on costs no reference count.
    /// Generic over the pool kind, so that the fairy learns from the pool's static type whether
    /// its return may take the QueuePool path (see ``RecordPool/isQueuePool``).
    @inlinable
    static func run<SomePool: RecordPool>(
        pool: SomePool,
        record: consuming ConnectionRecord<SomePool.RecordConnection>,
        site: CheckoutSite?
    ) throws -> ConnectionFairy<SomePool.RecordConnection> {
        record.addHolder()
        let fairy: ConnectionFairy<SomePool.RecordConnection>
        if let box = record.readyBox() {
            fairy = makeFairy(pool: pool, record: record, box: box, site: site)
        } else {
            fairy = try reconnectAndMakeFairy(pool: pool, record: record, site: site)
        }
        // Read before the counter's atomic store: past it, the optimiser keeps an extra retain
        // of the fairy around the read.
        let needsCheckoutLogic = fairy.needsCheckoutLogic
        fairy.counter = 1
        if needsCheckoutLogic {
            try runCheckoutLogic(fairy)
        }
        fairy.context.log(.debug, "Connection checked out from pool")
        return fairy
    }

    /// The record's spare fairy if nobody references it any more (QueuePool), else a new one.
    /// Always inlined into ``run(pool:record:site:)``: kept out of line, as the optimiser chose
    /// once it became generic over the pool kind, it cost W1 about 25 instructions per cycle.
    @inlinable @inline(__always)
    static func makeFairy<SomePool: RecordPool>(
        pool: SomePool, record: consuming ConnectionRecord<SomePool.RecordConnection>,
        box: consuming ConnectionBox<SomePool.RecordConnection>, site: CheckoutSite?
    ) -> ConnectionFairy<SomePool.RecordConnection> {
        // Only QueuePool keeps spares; other kinds may share a record between threads
        // (StaticPool), so they must not touch the field at all.
        if SomePool.isQueuePool, isKnownUniquelyReferenced(&record.spareFairy), let spare = record.spareFairy.take() {
            spare.rearm(pool: pool, record: record, box: box, site: site)
            return spare
        }
        return ConnectionFairy(pool: pool, context: record.context, record: record, box: box, site: site)
    }

    /// The checkout of a record whose connection must be made or replaced first.
    @usableFromInline
    static func reconnectAndMakeFairy<SomePool: RecordPool>(
        pool: SomePool, record: ConnectionRecord<SomePool.RecordConnection>, site: CheckoutSite?
    ) throws -> ConnectionFairy<SomePool.RecordConnection> {
        let box: ConnectionBox<SomePool.RecordConnection>
        do {
            box = try record.getConnectionBox()
        } catch {
            fail(record, pool: pool, error: error)
            throw error
        }
        return makeFairy(pool: pool, record: record, box: box, site: site)
    }

    /// Pre-ping and the checkout listeners, with SQLAlchemy's retry on ``DisconnectionError``.
    @usableFromInline
    static func runCheckoutLogic<Connection>(_ fairy: ConnectionFairy<Connection>) throws {
        guard let record = fairy.record else { return }
        let context = fairy.context
        let prePing = context.prePing
        var remaining = attempts
        while remaining > 0 {
            guard let connection = fairy.dbapiConnection else { break }
            let fresh = record.fresh
            record.fresh = false
            do {
                if prePing && !fresh {
                    context.log(.debug, "Pool pre-ping on connection")
                    if try !context.ping(connection) {
                        throw DisconnectionError(invalidatePool: true)
                    }
                }
                try context.events.fireCheckout(connection, record, fairy)
                return
            } catch let disconnect as DisconnectionError {
                if disconnect.invalidatePool {
                    context.log(.info, "Disconnection detected on checkout, invalidating all pooled connections prior to current timestamp", error: disconnect)
                    record.invalidate(disconnect)
                    context.advanceGeneration(triggeredBy: record)
                } else {
                    context.log(.info, "Disconnection detected on checkout, invalidating individual connection", error: disconnect)
                    record.invalidate(disconnect)
                }
                do {
                    fairy.replaceConnection(try fairy.pool.reconnectDuringCheckout(record))
                } catch {
                    fairy.abandon()
                    fail(record, pool: fairy.pool, error: error)
                    throw error
                }
                remaining -= 1
            } catch {
                fairy.abandon()
                fail(record, pool: fairy.pool, error: error)
                throw error
            }
        }
        context.log(.info, "Reconnection attempts exhausted on checkout")
        fairy.invalidate()
        throw PoolError.connectionClosed
    }

    /// A checkout that failed after the pool picked `record`: invalidate (a no-op if the record
    /// has no connection left), fire `checkin`, give the record back. The caller rethrows.
    @usableFromInline
    static func fail<Connection>(_ record: ConnectionRecord<Connection>, pool: any RecordPool<Connection>, error: any Error) {
        record.invalidate(error)
        record.removeHolder()
        record.fireCheckin()
        pool.returnFailedCheckout(record)
    }
}

extension ConnectionFairy {
    func replaceConnection(_ box: ConnectionBox<Connection>) {
        self.box = box
    }

    /// Ends a checkout that failed inside the checkout logic, without running the return path:
    /// the caller gives the record back itself.
    func abandon() {
        box = nil
        recordStorage = nil
        counter = 0
    }
}
