import DBPool

extension ChaosConnection {
    /// ``execute(_:)`` with bound values; they are logged with the statement when the driver has
    /// a script.
    public func execute(_ sql: String, _ parameters: [SQLValue]) throws {
        _ = try runStatement(.execute, sql, parameters)
    }

    /// Runs a query like ``execute(_:)`` and returns the script's rows as text (as
    /// ``MockConnection/query(_:)`` does); no script or no rule: no rows.
    public func query(_ sql: String) throws -> [[String?]] {
        try query(sql, [])
    }

    /// ``query(_:)`` with bound values.
    public func query(_ sql: String, _ parameters: [SQLValue]) throws -> [[String?]] {
        try runStatement(.query, sql, parameters).rows.map { $0.map(MockConnection.text) }
    }

    /// Runs a query like ``execute(_:)`` and returns the script's rows with their column names.
    public func queryRows(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow] {
        let (columns, rows) = try runStatement(.query, sql, parameters)
        return rows.map { SQLRow(columns: columns, values: $0) }
    }

    /// What a statement does to the transaction, judged by its first word.
    private enum Effect {
        case begin, commit, rollback, other

        init(_ sql: String) {
            let words = sql.drop { $0.isWhitespace }.prefix(24).uppercased().split { !$0.isLetter }
            switch (words.first, words.dropFirst().first) {
            case ("BEGIN", _), ("START", "TRANSACTION"): self = .begin
            case ("COMMIT", _), ("END", _): self = .commit
            // ROLLBACK TO SAVEPOINT keeps the transaction open.
            case ("ROLLBACK", "TO"): self = .other
            case ("ROLLBACK", _), ("ABORT", _): self = .rollback
            default: self = .other
            }
        }
    }

    /// One statement through the faults, in this order: dead connection, slow, mid-transaction
    /// disconnect, disconnect, error; then the script; then the transaction books; then a
    /// disconnect after the statement.
    func runStatement(_ kind: MockStatement.Kind, _ sql: String, _ parameters: [SQLValue]) throws
        -> (columns: [String], rows: [[SQLValue]])
    {
        let configuration = driver.configuration
        let statement = MockStatement(kind: kind, sql: sql, parameters: parameters, connectionID: id)
        let (alive, index, inTransaction) = state.withLock { state -> (Bool, Int, Bool) in
            if state.closeCount > 0 { state.callsAfterClose.append("\(kind.rawValue)(\(sql))") }
            state.operations += 1
            if let lifetime = state.lifetime, state.operations > lifetime { state.dropped = true }
            if state.dropped { state.transaction = nil }
            state.statements += 1
            return (!state.dropped, state.statements, state.transaction != nil)
        }
        let (a, b) = (UInt64(id), UInt64(index))
        guard alive else {
            driver.script?.log(statement)
            throw ChaosDisconnectError("connection #\(id) lost on \(kind.rawValue)")
        }
        if driver.fires(configuration.slowStatements, .slowStatement, a, b) {
            sleepThread(for: configuration.statementDelay)
        }
        if inTransaction && driver.fires(configuration.midTransactionDisconnects, .midTransactionDisconnect, a, b) {
            driver.script?.log(statement)
            drop()
            throw ChaosDisconnectError("connection #\(id) lost mid-transaction on \(sql)")
        }
        if driver.fires(configuration.statementDisconnects, .statementDisconnect, a, b) {
            driver.script?.log(statement)
            drop()
            throw ChaosDisconnectError("connection #\(id) lost on \(sql)")
        }
        if driver.fires(configuration.statementErrors, .statementError, a, b) {
            driver.script?.log(statement)
            throw ChaosError("statement failed on #\(id): \(sql)")
        }
        let answer = try driver.script?.answer(statement) ?? (columns: [], rows: [])
        let done = state.withLock { state -> [MockStatement]? in
            switch Effect(sql) {
            case .begin:
                state.transaction = (state.transaction ?? []) + [statement]
                return nil
            case .commit:
                defer { state.transaction = nil }
                return state.transaction.map { $0 + [statement] }
            case .rollback:
                state.transaction = nil
                return nil
            case .other:
                if state.transaction != nil {
                    state.transaction?.append(statement)
                    return nil
                }
                return [statement]
            }
        }
        if let done { driver.commit(done) }
        if driver.fires(configuration.disconnectsAfterStatement, .disconnectAfterStatement, a, b) {
            drop()
        }
        return answer
    }
}
