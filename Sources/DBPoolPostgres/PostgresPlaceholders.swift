/// Finds the highest `$N` placeholder in PostgreSQL SQL text, skipping the places where `$1` is
/// not a placeholder: string constants (`'…'`, `E'…'` with backslash escapes), quoted identifiers
/// (`"…"`), dollar-quoted strings (`$$…$$`, `$tag$…$tag$`), and comments (`-- …`, nested `/* … */`).
///
/// The count is checked before a statement is sent because the server cannot catch every mistake:
/// the adapter declares each value's type, and the server accepts declared parameters that the
/// statement never uses, so a surplus value would be silently ignored.
enum PostgresPlaceholders {
    /// The highest `N` of a `$N` placeholder in `sql`, or 0 when it has none.
    static func highest(in sql: String) -> Int {
        let bytes = Array(sql.utf8)
        var highest = 0
        var index = 0
        func at(_ i: Int) -> UInt8 { i < bytes.count ? bytes[i] : 0 }
        func isIdentifier(_ c: UInt8) -> Bool {
            c == UInt8(ascii: "_") || c >= 0x80 || (c | 0x20 >= UInt8(ascii: "a") && c | 0x20 <= UInt8(ascii: "z"))
                || isDigit(c) || c == UInt8(ascii: "$")
        }
        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        while index < bytes.count {
            let c = bytes[index]
            let previous = index > 0 ? bytes[index - 1] : 0
            switch c {
            case UInt8(ascii: "'"):
                // E'…' (not part of a longer identifier) treats a backslash as an escape.
                let escapes = (previous | 0x20) == UInt8(ascii: "e") && !(index > 1 && isIdentifier(bytes[index - 2]))
                index = skipQuoted(bytes, from: index + 1, quote: c, backslashEscapes: escapes)
            case UInt8(ascii: "\""):
                index = skipQuoted(bytes, from: index + 1, quote: c, backslashEscapes: false)
            case UInt8(ascii: "-") where at(index + 1) == UInt8(ascii: "-"):
                while index < bytes.count && bytes[index] != UInt8(ascii: "\n") { index += 1 }
            case UInt8(ascii: "/") where at(index + 1) == UInt8(ascii: "*"):
                var depth = 1
                index += 2
                while index < bytes.count && depth > 0 {
                    if bytes[index] == UInt8(ascii: "/") && at(index + 1) == UInt8(ascii: "*") {
                        depth += 1; index += 2
                    } else if bytes[index] == UInt8(ascii: "*") && at(index + 1) == UInt8(ascii: "/") {
                        depth -= 1; index += 2
                    } else {
                        index += 1
                    }
                }
            case UInt8(ascii: "$") where !isIdentifier(previous):
                if isDigit(at(index + 1)) {
                    var end = index + 1
                    var number = 0
                    while isDigit(at(end)) {
                        number = min(number * 10 + Int(bytes[end] - UInt8(ascii: "0")), 1_000_000)
                        end += 1
                    }
                    highest = max(highest, number)
                    index = end
                } else {
                    // A dollar quote: $tag$ with a tag of identifier characters, not starting with a digit.
                    var end = index + 1
                    while end < bytes.count && bytes[end] != UInt8(ascii: "$") && isIdentifier(bytes[end]) { end += 1 }
                    guard at(end) == UInt8(ascii: "$") else { index += 1; continue }
                    let tag = Array(bytes[index...end])
                    index = end + 1
                    while index < bytes.count
                        && !(bytes[index] == UInt8(ascii: "$")
                            && index + tag.count <= bytes.count && Array(bytes[index..<index + tag.count]) == tag)
                    {
                        index += 1
                    }
                    index += tag.count
                }
            default:
                index += 1
            }
        }
        return highest
    }

    /// The index just past the closing `quote` (a doubled quote is part of the text).
    private static func skipQuoted(_ bytes: [UInt8], from start: Int, quote: UInt8, backslashEscapes: Bool) -> Int {
        var index = start
        while index < bytes.count {
            let c = bytes[index]
            if backslashEscapes && c == UInt8(ascii: "\\") { index += 2; continue }
            if c == quote {
                if index + 1 < bytes.count && bytes[index + 1] == quote { index += 2; continue }
                return index + 1
            }
            index += 1
        }
        return index
    }
}
