/// A driver connection with DB-API's three transaction and lifetime methods.
///
/// Conforming lets a pool use ``DefaultDialect`` without writing a dialect. The pool calls these
/// from one thread at a time, so a conforming type does not need to be thread-safe or `Sendable`.
public protocol DBAPIConnection {
    /// Rolls back the current transaction, if any.
    func rollback() throws
    /// Commits the current transaction, if any.
    func commit() throws
    /// Closes the connection. Calling it on a closed connection should be harmless.
    func close() throws
}
