import CLibPQ
import DBPool

extension PostgresConnection: SQLExecutor {
    /// Runs one statement with `parameters` bound to `$1`, `$2`, …, discarding any rows.
    ///
    /// The statement and the values travel separately (`PQexecParams`, the extended protocol), so
    /// a value is never spliced into the SQL text: `'); DROP TABLE users; --` is stored as that
    /// text. Each value is sent with a type the server then converts as it needs:
    ///
    /// | `SQLValue` | sent as |
    /// |---|---|
    /// | `.integer` | `int8`, decimal text |
    /// | `.double` | `float8` (`Infinity`, `-Infinity` and `NaN` included) |
    /// | `.text` | type left for the server to infer, like a quoted literal; must not contain NUL |
    /// | `.bytes` | `bytea`, in binary |
    /// | `.bool` | `bool` |
    /// | `.null` | `NULL`, type left for the server to infer |
    ///
    /// Where the server cannot infer a text parameter's type (`SELECT $1`), it uses `text`. Cast
    /// in SQL when you need another one: `$1::uuid`.
    ///
    /// - Parameters:
    ///   - sql: exactly one statement; use ``execute(_:)`` for several statements without values.
    ///   - parameters: one value per placeholder, `parameters[0]` for `$1`.
    /// - Throws: ``PostgresError``: `sqlState == nil` and a message naming both counts when the
    ///   statement needs a different number of values; `sqlState == nil` and the position
    ///   (`$2`) for text holding a NUL byte, or a NUL byte in `sql`; otherwise the server's
    ///   error, for example `22P02` when it cannot read a value as the column's type, with the
    ///   kinds of the bound values appended to the message (`$1 text, $2 integer`; never the values).
    public func execute(_ sql: String, _ parameters: [SQLValue]) throws {
        try runParameters(sql, parameters) { _ in }
    }

    /// Runs one statement with `parameters` bound (as in ``execute(_:_:)``) and returns its rows
    /// in the server's text form, exactly as ``query(_:)`` does (`NULL` is `nil`, booleans `t`/`f`).
    /// - Throws: the errors of ``execute(_:_:)``.
    public func query(_ sql: String, _ parameters: [SQLValue]) throws -> [[String?]] {
        var rows: [[String?]] = []
        try runParameters(sql, parameters) { rows = Self.rows(of: $0) }
        return rows
    }

    /// Runs one statement with `parameters` bound (as in ``execute(_:_:)``) and returns its rows
    /// with typed values, by column type: `int2`/`int4`/`int8`/`oid` as `.integer`,
    /// `float4`/`float8` as `.double`, `bool` as `.bool`, `bytea` as `.bytes`, `NULL` as `.null`,
    /// everything else (including `numeric`, to keep its precision) as `.text` in the server's
    /// text form. Rows carry the column names.
    /// - Throws: the errors of ``execute(_:_:)``.
    public func queryRows(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow] {
        var rows: [SQLRow] = []
        try runParameters(sql, parameters) { rows = Self.typedRows(of: $0) }
        return rows
    }

    // MARK: Internals

    /// Sends `sql` with `parameters` and hands a tuples or command result to `read`; the
    /// `PGresult` and every parameter buffer are freed on every path.
    private func runParameters(_ sql: String, _ parameters: [SQLValue], read: (OpaquePointer) -> Void) throws {
        let conn = try liveHandle()
        try Self.rejectNUL(in: sql)
        let needed = PostgresPlaceholders.highest(in: sql)
        guard needed == parameters.count else {
            throw Self.countError(needed: needed, got: parameters.count, detail: nil)
        }
        // Built up one by one with the cleanup already in place, so that a parameter rejected
        // half-way (a NUL in text) frees the buffers of the ones before it.
        var encoded: [Encoded] = []
        encoded.reserveCapacity(parameters.count)
        defer { encoded.forEach { $0.buffer?.deallocate() } }
        for (offset, parameter) in parameters.enumerated() {
            encoded.append(try Self.encode(parameter, position: offset + 1))
        }
        let types = encoded.map(\.type)
        let values: [UnsafePointer<CChar>?] = encoded.map { $0.buffer.map { UnsafePointer($0) } }
        let lengths = encoded.map(\.length)
        let formats = encoded.map(\.format)
        guard let result = PQexecParams(conn, sql, Int32(encoded.count), types, values, lengths, formats, 0) else {
            throw Self.connectionError(conn, result: nil)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            read(result)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            Self.abandonCopy(conn)
            throw PostgresError(sqlState: nil, message: "COPY is not supported by PostgresConnection")
        default:
            throw Self.parameterError(Self.connectionError(conn, result: result), parameters)
        }
    }

    /// One parameter as libpq wants it: a type OID, a buffer (`nil` for NULL), a length and a
    /// format (0 text, 1 binary).
    private struct Encoded {
        var type: Oid
        var buffer: UnsafeMutablePointer<CChar>?
        var length: Int32
        var format: Int32
    }

    private static let int8OID: Oid = 20, float8OID: Oid = 701, boolOID: Oid = 16, byteaOID: Oid = 17

    private static func encode(_ value: SQLValue, position: Int) throws -> Encoded {
        switch value {
        case .null:
            return Encoded(type: 0, buffer: nil, length: 0, format: 0)
        case let .integer(number):
            return Encoded(type: int8OID, buffer: cString(String(number)), length: 0, format: 0)
        case let .double(number):
            let text = number.isNaN ? "NaN" : number.isInfinite ? (number < 0 ? "-Infinity" : "Infinity") : "\(number)"
            return Encoded(type: float8OID, buffer: cString(text), length: 0, format: 0)
        case let .bool(flag):
            return Encoded(type: boolOID, buffer: cString(flag ? "true" : "false"), length: 0, format: 0)
        case let .text(text):
            if let offset = nulOffset(in: text) {
                throw PostgresError(
                    sqlState: nil,
                    message: "parameter $\(position): text contains a NUL byte at UTF-8 offset "
                        + "\(offset), which PostgreSQL text cannot hold; send it as .bytes")
            }
            return Encoded(type: 0, buffer: cString(text), length: 0, format: 0)
        case let .bytes(bytes):
            // Binary format: no escaping at all. One spare byte so an empty value has an address.
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            bytes.withUnsafeBytes { source in
                // An empty array need not have an address.
                if let base = source.baseAddress { UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: source.count) }
            }
            return Encoded(type: byteaOID, buffer: buffer, length: Int32(bytes.count), format: 1)
        }
    }

    private static func cString(_ text: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(text.utf8)
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
        utf8.withUnsafeBytes { source in
            if let base = source.baseAddress { UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: source.count) }
        }
        buffer[utf8.count] = 0
        return buffer
    }

    /// Rewrites the server's errors about parameters into ones that name the positions.
    ///
    /// A wrong count comes back as `08P01` protocol_violation ("bind message supplies 1
    /// parameters, but prepared statement "" requires 2"). It is class `08`, so a pool would take
    /// it for a disconnect, though the session is fine; it becomes a client error instead.
    private static func parameterError(_ error: PostgresError, _ parameters: [SQLValue]) -> PostgresError {
        // The scan before sending catches a wrong count; this is the backstop should it miss one.
        if error.sqlState == "08P01", error.message.hasPrefix("bind message supplies") {
            let needed = error.message.split(separator: " ").last.flatMap { Int($0) }
            return countError(needed: needed, got: parameters.count, detail: error.message)
        }
        guard !parameters.isEmpty else { return error }
        var error = error
        error.message +=
            " (bound: "
            + parameters.enumerated().map { "$\($0.offset + 1) \($0.element.kind)" }
            .joined(separator: ", ") + ")"
        return error
    }

    private static func countError(needed: Int?, got: Int, detail: String?) -> PostgresError {
        let positions = needed.map { $0 == 0 ? "no parameters" : $0 == 1 ? "1 parameter ($1)" : "\($0) parameters ($1…$\($0))" }
        return PostgresError(
            sqlState: nil,
            message: "wrong number of parameters: the statement needs "
                + "\(positions ?? "a different number"), got \(got) value\(got == 1 ? "" : "s")", severity: nil, detail: detail)
    }

    private static let integerTypes: Set<Oid> = [20, 21, 23, 26], floatTypes: Set<Oid> = [700, 701]

    private static func typedRows(of result: OpaquePointer) -> [SQLRow] {
        let columnCount = PQnfields(result)
        let columns = (0..<columnCount).map { PQfname(result, $0).map { String(cString: $0) } ?? "" }
        let types = (0..<columnCount).map { PQftype(result, $0) }
        return (0..<PQntuples(result)).map { row in
            SQLRow(
                columns: columns,
                values: (0..<columnCount).map { column in
                    if PQgetisnull(result, row, column) != 0 { return .null }
                    let length = Int(PQgetlength(result, row, column))
                    let bytes =
                        PQgetvalue(result, row, column).map {
                            UnsafeRawBufferPointer(start: $0, count: length)
                        } ?? UnsafeRawBufferPointer(start: nil, count: 0)
                    return value(bytes, type: types[Int(column)])
                })
        }
    }

    /// A text-format value as the Swift type for its column type; text when it does not parse.
    private static func value(_ bytes: UnsafeRawBufferPointer, type: Oid) -> SQLValue {
        let text = String(decoding: bytes, as: UTF8.self)
        if integerTypes.contains(type), let number = Int64(text) { return .integer(number) }
        if floatTypes.contains(type), let number = Double(text) { return .double(number) }
        if type == boolOID { return .bool(text == "t") }
        if type == byteaOID, let decoded = hexBytea(bytes) { return .bytes(decoded) }
        return .text(text)
    }

    /// Decodes `bytea`'s hex output format (`\x48656c6c6f`), the default since PostgreSQL 9.0.
    private static func hexBytea(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "\\"), bytes[1] == UInt8(ascii: "x"), bytes.count % 2 == 0 else {
            return nil
        }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count - 2) / 2)
        var index = 2
        while index < bytes.count {
            guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
