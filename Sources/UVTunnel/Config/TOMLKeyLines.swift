import Foundation

/// Where the keys and table headers of a TOML document are written, by line.
///
/// TOMLKit (toml++) reports a line only for a syntax error; a document that
/// parsed keeps no positions. Messages about values (an unknown key, a number
/// out of range, a listen address used twice) still name their line, so this
/// scan finds them again in the text after TOMLKit accepted it: a header is
/// a line starting with `[`, a key a line starting with a bare or quoted key
/// and `=`; lines inside multi-line strings are skipped. It decides nothing
/// about validity (TOMLKit did), and where it cannot place a key the reader
/// names the `[[tunnel]]` by its number and listen address instead.
struct TOMLKeyLines {
    struct Header {
        var name: String
        /// `[[name]]` rather than `[name]`.
        var isArray: Bool
        var line: Int
        /// The first line of each key in this table.
        var keys: [String: Int] = [:]
    }

    /// Keys before the first header.
    private(set) var root: [String: Int] = [:]
    private(set) var headers: [Header] = []

    init(_ text: String) {
        var openString: Substring?  // the delimiter of a multi-line string in progress
        var number = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var line = rawLine[...]
            if let delimiter = openString {
                if Self.count(delimiter, in: line) % 2 == 1 { openString = nil }
                continue
            }
            line = line.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("[[") {
                let name = line.dropFirst(2).prefix { $0 != "]" }
                headers.append(Header(name: Self.trimmed(name), isArray: true, line: number))
            } else if line.hasPrefix("[") {
                let name = line.dropFirst().prefix { $0 != "]" }
                headers.append(Header(name: Self.trimmed(name), isArray: false, line: number))
            } else if let (key, rest) = Self.key(line) {
                if headers.isEmpty {
                    if root[key] == nil { root[key] = number }
                } else if headers[headers.count - 1].keys[key] == nil {
                    headers[headers.count - 1].keys[key] = number
                }
                let value = rest.drop { $0 == " " || $0 == "\t" }
                for delimiter in ["\"\"\"", "'''"] where value.hasPrefix(delimiter) {
                    if Self.count(delimiter[...], in: value) % 2 == 1 { openString = delimiter[...] }
                }
            }
        }
    }

    /// The tables named `[[name]]`, in order.
    func arrayTables(named name: String) -> [Header] { headers.filter { $0.isArray && $0.name == name } }

    /// `key = …` (bare, "quoted" or 'literal'; a dotted key gives its first
    /// part): the key and what follows the `=`.
    private static func key(_ line: Substring) -> (String, Substring)? {
        var rest = line
        let key: String
        if let quote = rest.first, quote == "\"" || quote == "'" {
            let body = rest.dropFirst()
            guard let end = body.firstIndex(of: quote) else { return nil }
            key = String(body[..<end])
            rest = body[body.index(after: end)...]
        } else {
            let bare = rest.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
            guard !bare.isEmpty else { return nil }
            key = String(bare)
            rest = rest.dropFirst(bare.count)
        }
        rest = rest.drop { $0 == " " || $0 == "\t" }
        guard let next = rest.first, next == "=" || next == "." else { return nil }
        if next == "." { return (key, rest.drop { $0 != "=" }.dropFirst()) }
        return (key, rest.dropFirst())
    }

    private static func count(_ delimiter: Substring, in text: Substring) -> Int {
        var count = 0
        var rest = text
        while let range = rest.range(of: delimiter) {
            count += 1
            rest = rest[range.upperBound...]
        }
        return count
    }

    /// A header's name without blanks or quotes (`[[ "tunnel" ]]` is `tunnel`).
    private static func trimmed(_ text: Substring) -> String {
        let name = String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        if name.count >= 2, let quote = name.first, quote == "\"" || quote == "'", name.last == quote {
            return String(name.dropFirst().dropLast())
        }
        return name
    }
}
