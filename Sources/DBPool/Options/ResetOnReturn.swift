/// What the pool does to a connection's transaction when the connection is returned.
/// SQLAlchemy's `reset_on_return`.
public enum ResetOnReturn: Sendable, Equatable, CustomStringConvertible {
    /// Roll back (the default; SQLAlchemy's `"rollback"` / `True`).
    case rollback
    /// Commit (SQLAlchemy's `"commit"`). Issued even when the caller reports that the
    /// transaction was already reset, as SQLAlchemy does.
    case commit
    /// Do nothing (SQLAlchemy's `None` / `False`). The `reset` event still fires.
    case noAction

    /// `rollback`, `commit` or `none`.
    public var description: String {
        switch self {
        case .rollback: "rollback"
        case .commit: "commit"
        case .noAction: "none"
        }
    }
}
