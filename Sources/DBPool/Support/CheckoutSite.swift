/// Where a checkout was requested: the file and line of the `connect()` or `withConnection` call.
/// Captured with `#fileID` and `#line` default arguments, which cost nothing at run time.
/// AssertionPool reports it in ``PoolError/alreadyCheckedOut(location:)``.
public struct CheckoutSite: Sendable, Hashable, CustomStringConvertible {
    /// The `#fileID` of the call.
    public var fileID: StaticString
    /// The `#line` of the call.
    public var line: UInt

    /// Creates a call site.
    public init(fileID: StaticString, line: UInt) {
        self.fileID = fileID
        self.line = line
    }

    /// `File.swift:42`.
    public var description: String { "\(fileID):\(line)" }

    /// Compares by file and line.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.line == rhs.line && lhs.fileID.description == rhs.fileID.description
    }

    /// Hashes file and line.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(fileID.description)
        hasher.combine(line)
    }
}
