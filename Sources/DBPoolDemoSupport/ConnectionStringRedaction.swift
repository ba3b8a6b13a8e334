/// Hides the passwords in a libpq connection string, so that what the demo prints (the summary,
/// error lines) can be pasted into a bug report. A module of its own so that the tests can reach
/// it: the demo is an executable target, which a test target cannot import.
///
/// Both forms libpq accepts are understood, as libpq parses them:
/// - a URI (`postgresql://` or `postgres://`): the password in the user info
///   (`postgresql://u:s3cret@host`) and the `password` query parameter (`?password=s3cret`);
/// - a keyword/value string: `password=s3cret`, with or without spaces around `=`, and a
///   single-quoted value with backslash escapes (`password='a b'`, `password='it\'s'`).
///
/// A `dbname` value that is itself a connection string (libpq expands those) is redacted too.
/// A keyword/value string that cannot be parsed is hidden whole, because where its password
/// ends is then unknown.
public enum ConnectionStringRedaction {
    /// What replaces each password.
    public static let mask = "***"
    /// What replaces a keyword/value string that cannot be parsed.
    public static let unparsable = "(connection string hidden: it could not be parsed)"

    /// `conninfo` with every password replaced by ``mask``.
    public static func redact(_ conninfo: String) -> String {
        var output = ""
        _ = scan(conninfo, redacted: &output)
        return output
    }

    /// The passwords in `conninfo` as written and, for a URI, percent-decoded: what an error
    /// message that quotes the connection string could contain.
    public static func passwords(in conninfo: String) -> [String] {
        var output = ""
        return scan(conninfo, redacted: &output).filter { !$0.isEmpty }
    }

    /// `text` with every occurrence of each of `secrets` replaced by ``mask``: for error
    /// messages, which may quote part of the connection string (libpq's do, for a malformed one).
    public static func scrub(_ text: String, secrets: [String]) -> String {
        var text = text
        // Longest first, so that a password containing a shorter one is hidden whole.
        for secret in Set(secrets).sorted(by: { $0.count > $1.count }) where !secret.isEmpty {
            text = text.replacing(secret, with: mask)
        }
        return text
    }

    /// Fills `redacted` and returns the passwords found.
    private static func scan(_ conninfo: String, redacted: inout String) -> [String] {
        if let scheme = ["postgresql://", "postgres://"].first(where: { conninfo.hasPrefix($0) }) {
            return scanURI(conninfo, schemeLength: scheme.count, redacted: &redacted)
        }
        guard let pairs = KeywordParser.parse(Array(conninfo.unicodeScalars)) else {
            redacted = unparsable
            // Where the password ends is unknown, so the whole string counts as the secret.
            return [conninfo]
        }
        var scalars = String.UnicodeScalarView()
        var secrets: [String] = []
        let all = Array(conninfo.unicodeScalars)
        var offset = 0
        for pair in pairs {
            let replacement: String
            switch pair.keyword {
            case "password":
                secrets.append(pair.value)
                replacement = mask
            case "dbname" where isConnectionString(pair.value):
                var inner = ""
                secrets += scan(pair.value, redacted: &inner)
                replacement = pair.quoted ? escapeQuoted(inner) : inner
            default:
                continue
            }
            scalars.append(contentsOf: all[offset..<pair.valueRange.lowerBound])
            scalars.append(contentsOf: replacement.unicodeScalars)
            offset = pair.valueRange.upperBound
        }
        scalars.append(contentsOf: all[offset...])
        redacted = String(scalars)
        return secrets
    }

    /// libpq expands a `dbname` that contains `=` or starts with a URI prefix.
    private static func isConnectionString(_ value: String) -> Bool {
        value.contains("=") || value.hasPrefix("postgresql://") || value.hasPrefix("postgres://")
    }

    private static func escapeQuoted(_ value: String) -> String {
        var escaped = ""
        for character in value {
            if character == "'" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }

    private static func scanURI(_ uri: String, schemeLength: Int, redacted: inout String) -> [String] {
        let afterScheme = uri.index(uri.startIndex, offsetBy: schemeLength)
        // The authority ends at the path or the query; an "@" after that belongs to them.
        let authorityEnd = uri[afterScheme...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? uri.endIndex
        var secrets: [String] = []
        var head = String(uri[..<afterScheme])
        let authority = uri[afterScheme..<authorityEnd]
        if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
            let password = String(authority[authority.index(after: colon)..<at])
            secrets += [password, percentDecoded(password)]
            head += authority[...colon] + mask + authority[at...]
        } else {
            head += authority
        }
        let rest = uri[authorityEnd...]
        guard let question = rest.firstIndex(of: "?") else {
            redacted = head + rest
            return secrets
        }
        let parameters = rest[rest.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { parameter -> String in
            guard let equals = parameter.firstIndex(of: "=") else { return String(parameter) }
            let key = percentDecoded(String(parameter[..<equals]))
            let value = String(parameter[parameter.index(after: equals)...])
            switch key {
            case "password":
                secrets += [value, percentDecoded(value)]
                return parameter[...equals] + mask
            case "dbname" where isConnectionString(percentDecoded(value)):
                var inner = ""
                secrets += scan(percentDecoded(value), redacted: &inner)
                return parameter[...equals] + inner
            default:
                return String(parameter)
            }
        }
        redacted = head + rest[...question] + parameters.joined(separator: "&")
        return secrets
    }

    /// `%xx` decoded; a malformed escape is kept as written (libpq rejects it anyway).
    private static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "%"), index + 2 < utf8.count,
                let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2])
            {
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// libpq's keyword/value grammar (`conninfo_parse`): pairs separated by whitespace, optional
/// whitespace around `=`, a value either single-quoted or running to the next whitespace, and a
/// backslash escaping the next character in both.
private enum KeywordParser {
    struct Pair {
        var keyword: String
        var value: String
        /// Where the value's text is, quotes excluded.
        var valueRange: Range<Int>
        var quoted: Bool
    }

    static func parse(_ text: [Unicode.Scalar]) -> [Pair]? {
        var pairs: [Pair] = []
        var index = 0
        func skipSpace() { while index < text.count, text[index].properties.isWhitespace { index += 1 } }
        while true {
            skipSpace()
            guard index < text.count else { return pairs }
            let keywordStart = index
            while index < text.count, text[index] != "=", !text[index].properties.isWhitespace { index += 1 }
            let keyword = String(String.UnicodeScalarView(text[keywordStart..<index]))
            skipSpace()
            guard index < text.count, text[index] == "=" else { return nil }
            index += 1
            skipSpace()
            var value = String.UnicodeScalarView()
            let quoted = index < text.count && text[index] == "'"
            if quoted { index += 1 }
            let valueStart = index
            while index < text.count {
                let scalar = text[index]
                if quoted ? scalar == "'" : scalar.properties.isWhitespace { break }
                if scalar == "\\" {
                    index += 1
                    guard index < text.count else { break }
                }
                value.append(text[index])
                index += 1
            }
            let valueEnd = index
            if quoted {
                // An unterminated quote: libpq rejects the string, and the password's end is unknown.
                guard index < text.count else { return nil }
                index += 1
            }
            pairs.append(Pair(keyword: keyword, value: String(value), valueRange: valueStart..<valueEnd, quoted: quoted))
        }
    }
}
