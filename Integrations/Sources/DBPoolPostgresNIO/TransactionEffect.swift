/// What a statement does to the transaction state, judged from its first keyword.
///
/// It reads the statement's UTF-8 bytes and allocates nothing: it runs on every
/// ``PooledPostgresConnection/query(_:file:line:)``, and a `Character`-based scan with an
/// upper-cased copy cost about 2% of a `SELECT 1` round trip. PostgreSQL's own lexer treats only
/// ASCII space, tab, newline, carriage return, form feed and vertical tab as whitespace, and every
/// keyword is ASCII, so nothing is lost by reading bytes.
enum TransactionEffect: Equatable {
    case opens, ends, none

    init(of sql: String) {
        var sql = sql
        self = sql.withUTF8 { Self.effect(of: $0) }
    }

    private static func effect(of bytes: UnsafeBufferPointer<UInt8>) -> TransactionEffect {
        guard let word = firstKeywordRange(bytes) else { return .none }
        let keyword = UnsafeBufferPointer(rebasing: bytes[word])
        if matches(keyword, "BEGIN") || matches(keyword, "START") { return .opens }
        guard matches(keyword, "COMMIT") || matches(keyword, "END") || matches(keyword, "ROLLBACK") || matches(keyword, "ABORT") else {
            return .none
        }
        // `COMMIT AND CHAIN` starts the next transaction at once; `ROLLBACK TO SAVEPOINT` stays
        // inside the current one.
        return contains(bytes, "CHAIN") || contains(bytes, " TO ") ? .opens : .ends
    }

    /// Where the first word's ASCII letters are, or `nil` if the statement has no such word.
    private static func firstKeywordRange(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var i = 0
        let n = bytes.count
        while i < n {
            let byte = bytes[i]
            if isSpace(byte) || byte == UInt8(ascii: ";") || byte == UInt8(ascii: "(") {
                i += 1
            } else if byte == UInt8(ascii: "-"), i + 1 < n, bytes[i + 1] == UInt8(ascii: "-") {
                while i < n, bytes[i] != UInt8(ascii: "\n") { i += 1 }
            } else if byte == UInt8(ascii: "/"), i + 1 < n, bytes[i + 1] == UInt8(ascii: "*") {
                i += 2
                while i + 1 < n, !(bytes[i] == UInt8(ascii: "*") && bytes[i + 1] == UInt8(ascii: "/")) { i += 1 }
                guard i + 1 < n else { return nil }
                i += 2
            } else {
                break
            }
        }
        var end = i
        while end < n, isLetter(bytes[end]) { end += 1 }
        return end > i ? i..<end : nil
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }

    /// Whether `word` is `keyword` (upper-case ASCII), ignoring case.
    private static func matches(_ word: UnsafeBufferPointer<UInt8>, _ keyword: StaticString) -> Bool {
        guard word.count == keyword.utf8CodeUnitCount else { return false }
        let target = keyword.utf8Start
        for i in 0..<word.count where upper(word[i]) != target[i] { return false }
        return true
    }

    /// Whether `bytes` contains `needle` (upper-case ASCII), ignoring case.
    private static func contains(_ bytes: UnsafeBufferPointer<UInt8>, _ needle: StaticString) -> Bool {
        let count = needle.utf8CodeUnitCount, target = needle.utf8Start
        guard bytes.count >= count else { return false }
        search: for start in 0...(bytes.count - count) {
            for i in 0..<count where upper(bytes[start + i]) != target[i] { continue search }
            return true
        }
        return false
    }

    private static func upper(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) ? byte - 32 : byte
    }
}
