/// The checkout steps shared by every pool kind, once the pool has picked a record:
/// reconnect if due, create the fairy, then pre-ping and the checkout listeners
/// (SQLAlchemy's `_ConnectionFairy._checkout`).
enum Checkout {
    /// SQLAlchemy runs the checkout listeners at most twice per checkout, whatever its docs say.
    static let attempts = 2

    static func run<Connection>(
        pool: any RecordPool<Connection>,
        record: ConnectionRecord<Connection>,
        site: CheckoutSite?
    ) throws -> ConnectionFairy<Connection> {
        let context = pool.context
        record.addHolder()
        let connection: Connection
        do {
            connection = try record.getConnection()
        } catch {
            fail(record, pool: pool, error: error)
            throw error
        }
        let fairy = ConnectionFairy(pool: pool, record: record, connection: connection, site: site)
        fairy.counter = 1
        try runCheckoutLogic(fairy, record: record, context: context)
        context.log(.debug, "Connection checked out from pool")
        return fairy
    }

    /// Pre-ping and the checkout listeners, with SQLAlchemy's retry on ``DisconnectionError``.
    static func runCheckoutLogic<Connection>(
        _ fairy: ConnectionFairy<Connection>,
        record: ConnectionRecord<Connection>,
        context: PoolContext<Connection>
    ) throws {
        let prePing = context.prePing
        guard prePing || context.events.has(.checkout) else { return }
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
                    fairy.replaceConnection(try record.getConnection())
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
    static func fail<Connection>(_ record: ConnectionRecord<Connection>, pool: any RecordPool<Connection>, error: any Error) {
        record.invalidate(error)
        record.removeHolder()
        record.checkin(to: pool)
    }
}

extension ConnectionFairy {
    func replaceConnection(_ connection: Connection) {
        dbapiConnection = connection
    }

    /// Ends a checkout that failed inside the checkout logic, without running the return path:
    /// the caller gives the record back itself.
    func abandon() {
        dbapiConnection = nil
        record = nil
        counter = 0
    }
}
