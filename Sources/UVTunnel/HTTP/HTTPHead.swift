/// Types shared by the two incremental HTTP/1.x head parsers
/// (ResponseHeadParser on the client, ConnectRequestParser on the gateway).

/// One header line, name as sent (compare case-insensitively), value trimmed.
public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Why a head could not be parsed; one printable line, safe to log.
public struct HTTPHeadError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Result of feeding bytes: either wait for more, or the head plus how many of
/// the bytes just fed belonged to it (the rest are tunnel bytes to forward).
public enum HeadParseStep<Head: Sendable>: Sendable {
    case needMore
    case complete(Head, consumed: Int)
}

extension HeadParseStep: Equatable where Head: Equatable {}

extension [HTTPHeader] {
    /// First value for `name`, compared ASCII case-insensitively (header names
    /// are ASCII tokens; no locale-dependent case folding).
    func firstValue(named name: String) -> String? {
        first { HTTPToken.equalsIgnoringASCIICase($0.name, name) }?.value
    }
}

/// Character classes from RFC 9110/9112 used by both parsers.
enum HTTPToken {
    /// tchar: what a method or header name may contain.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return tokenPunctuation.contains(b)
        }
    }
    private static let tokenPunctuation: [UInt8] = Array("!#$%&'*+-.^_`|~".utf8)

    static func isDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }

    static func equalsIgnoringASCIICase(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && zip(a.utf8, b.utf8).allSatisfy { lower($0) == lower($1) }
    }

    static func lower(_ b: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b) ? b | 0x20 : b
    }

    /// `name: value` → header; nil for anything else (no name, a space before
    /// the colon, a folded continuation line starting with whitespace).
    static func parseHeaderLine(_ line: [UInt8]) -> HTTPHeader? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0,
              line[..<colon].allSatisfy(isTokenByte)
        else { return nil }
        var value = line[(colon + 1)...]
        while let f = value.first, f == 0x20 || f == 0x09 { value.removeFirst() }
        while let l = value.last, l == 0x20 || l == 0x09 { value.removeLast() }
        return HTTPHeader(name: String(decoding: line[..<colon], as: UTF8.self),
                          value: String(decoding: value, as: UTF8.self))
    }
}
