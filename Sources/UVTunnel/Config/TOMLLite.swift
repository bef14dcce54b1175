import Foundation

/// The small part of TOML a tunnel config needs, parsed by hand so every
/// error names its line: `key = value` pairs, `[[table]]` array headers,
/// `#` comments, and values that are basic strings ("…" with \" \\ \n \t
/// escapes), literal strings ('…'), integers, floats, booleans, and one-line
/// arrays of those. Anything else is refused with the line and the reason.
public enum TOMLLite {
    public enum Value: Equatable, Sendable {
        case string(String)
        case integer(Int64)
        case float(Double)
        case boolean(Bool)
        case array([Value])
    }

    /// A value with the line it came from.
    public struct Entry: Equatable, Sendable {
        public var value: Value
        public var line: Int
    }

    /// Top-level keys, and each `[[name]]` table in order.
    public struct Document: Equatable, Sendable {
        public var root: [String: Entry] = [:]
        public var tables: [(name: String, line: Int, keys: [String: Entry])] = []

        public static func == (a: Document, b: Document) -> Bool {
            a.root == b.root && a.tables.count == b.tables.count
                && zip(a.tables, b.tables).allSatisfy { $0.name == $1.name && $0.line == $1.line && $0.keys == $1.keys }
        }
    }

    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    public static let maxBytes = 1 << 20
    public static let maxLines = 10_000

    public static func parse(_ text: String) throws(ParseError) -> Document {
        guard text.utf8.count <= maxBytes else { throw ParseError(line: 1, reason: "file larger than \(maxBytes) bytes") }
        var document = Document()
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            guard lineNumber <= maxLines else { throw ParseError(line: lineNumber, reason: "more than \(maxLines) lines") }
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            line = trimmed(stripComment(line))
            if line.isEmpty { continue }
            if line.hasPrefix("[[") {
                guard line.hasSuffix("]]") else { throw ParseError(line: lineNumber, reason: "a table header looks like [[tunnel]]") }
                let name = trimmed(line.dropFirst(2).dropLast(2))
                guard isBareKey(name) else { throw ParseError(line: lineNumber, reason: "invalid table name \"\(name)\"") }
                document.tables.append((String(name), lineNumber, [:]))
                continue
            }
            if line.hasPrefix("[") {
                throw ParseError(line: lineNumber, reason: "only [[array]] tables are supported, e.g. [[tunnel]]")
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw ParseError(line: lineNumber, reason: "expected key = value")
            }
            let key = trimmed(line[..<equals])
            guard isBareKey(key) else {
                throw ParseError(line: lineNumber, reason: "invalid key \"\(key)\" (letters, digits, - and _ only)")
            }
            var rest = trimmed(line[line.index(after: equals)...])
            let value = try parseValue(&rest, line: lineNumber)
            guard trimmed(rest).isEmpty else { throw ParseError(line: lineNumber, reason: "unexpected text after the value") }
            let entry = Entry(value: value, line: lineNumber)
            if document.tables.isEmpty {
                guard document.root[String(key)] == nil else { throw ParseError(line: lineNumber, reason: "duplicate key \"\(key)\"") }
                document.root[String(key)] = entry
            } else {
                let index = document.tables.count - 1
                guard document.tables[index].keys[String(key)] == nil else {
                    throw ParseError(line: lineNumber, reason: "duplicate key \"\(key)\"")
                }
                document.tables[index].keys[String(key)] = entry
            }
        }
        return document
    }

    private static func parseValue(_ text: inout Substring, line: Int) throws(ParseError) -> Value {
        guard let first = text.first else { throw ParseError(line: line, reason: "missing value") }
        switch first {
        case "\"":
            return .string(try basicString(&text, line: line))
        case "'":
            text = text.dropFirst()
            guard let end = text.firstIndex(of: "'") else { throw ParseError(line: line, reason: "unterminated string") }
            let value = String(text[..<end])
            text = text[text.index(after: end)...]
            return .string(value)
        case "[":
            text = trimmed(text.dropFirst())
            var items: [Value] = []
            while true {
                if text.first == "]" {
                    text = text.dropFirst()
                    return .array(items)
                }
                items.append(try parseValue(&text, line: line))
                text = trimmed(text)
                if text.first == "," { text = trimmed(text.dropFirst()) } else if text.first != "]" {
                    throw ParseError(line: line, reason: "expected , or ] in the array (arrays must fit on one line)")
                }
            }
        default:
            let token = text.prefix { !$0.isWhitespace && $0 != "," && $0 != "]" }
            text = text.dropFirst(token.count)
            if token == "true" { return .boolean(true) }
            if token == "false" { return .boolean(false) }
            let digits = token.replacingOccurrences(of: "_", with: "")
            if let integer = Int64(digits) { return .integer(integer) }
            if let float = Double(digits), float.isFinite { return .float(float) }
            throw ParseError(line: line, reason: "cannot read the value \"\(token.prefix(40))\"; strings go in quotes")
        }
    }

    private static func basicString(_ text: inout Substring, line: Int) throws(ParseError) -> String {
        text = text.dropFirst()
        var result = ""
        while let c = text.first {
            text = text.dropFirst()
            switch c {
            case "\"": return result
            case "\\":
                guard let escaped = text.first else { break }
                text = text.dropFirst()
                switch escaped {
                case "\"": result.append("\"")
                case "\\": result.append("\\")
                case "n": result.append("\n")
                case "t": result.append("\t")
                default: throw ParseError(line: line, reason: "unsupported escape \\\(escaped) in a string")
                }
            default:
                result.append(c)
            }
        }
        throw ParseError(line: line, reason: "unterminated string")
    }

    /// Drops a `#` comment that is not inside a string.
    private static func stripComment(_ line: Substring) -> Substring {
        var quote: Character?
        var previous: Character = " "
        for index in line.indices {
            let c = line[index]
            if let open = quote {
                if c == open && !(open == "\"" && previous == "\\") { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "#" {
                return line[..<index]
            }
            previous = c
        }
        return line
    }

    private static func trimmed(_ text: Substring) -> Substring {
        var result = text
        while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }

    private static func isBareKey(_ key: Substring) -> Bool {
        !key.isEmpty && key.count <= 64 && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }
}
