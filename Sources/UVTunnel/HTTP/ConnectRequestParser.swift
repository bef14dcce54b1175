/// A request head as received by the bundled gateway.
public struct ConnectRequestHead: Sendable, Equatable {
    public var method: String
    /// For CONNECT, the authority "host:port" the client wants.
    public var target: String
    /// "HTTP/1.0" or "HTTP/1.1".
    public var version: String
    public var headers: [HTTPHeader]

    public init(method: String, target: String, version: String, headers: [HTTPHeader]) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
    }

    /// First value of header `name`, case-insensitive.
    public func value(of name: String) -> String? { headers.firstValue(named: name) }

    /// The token in any form Pomerium accepts (SPEC "Wire protocol"), checked
    /// in Pomerium's order: `X-Pomerium-Authorization: <jwt>`, then
    /// `Authorization: Pomerium <jwt>`, then `Authorization: Bearer Pomerium-<jwt>`.
    /// Scheme words compare case-insensitively (RFC 9110 auth schemes). nil when
    /// absent or empty.
    public func pomeriumToken() -> String? {
        if let token = value(of: "X-Pomerium-Authorization"), !token.isEmpty {
            return token
        }
        guard let authorization = value(of: "Authorization") else { return nil }
        for prefix in ["Pomerium ", "Bearer Pomerium-"] {
            if let token = Self.strip(prefix: prefix, from: authorization) {
                return token
            }
        }
        return nil
    }

    private static func strip(prefix: String, from value: String) -> String? {
        let bytes = Array(value.utf8)
        let prefixBytes = Array(prefix.utf8)
        guard bytes.count > prefixBytes.count,
              zip(bytes, prefixBytes).allSatisfy({ HTTPToken.lower($0) == HTTPToken.lower($1) })
        else { return nil }
        let token = bytes[prefixBytes.count...].drop(while: { $0 == 0x20 })
        return token.isEmpty ? nil : String(decoding: token, as: UTF8.self)
    }
}

/// Incremental parser for a client's request head, used by the bundled gateway.
///
/// Accepts any method (the gateway answers 405 to non-CONNECT itself) but the
/// peer is untrusted: the head is bounded by `limit` bytes, `maxHeaders` lines
/// and a `maxMethodLength`-byte method, control characters are refused, and
/// bytes that cannot start "METHOD target HTTP/1.x" fail at once (a TLS
/// ClientHello sent to a plain listener is rejected on its first byte).
public struct ConnectRequestParser: Sendable {
    public let limit: Int
    public static let maxHeaders = HeadReader<RequestLineGrammar>.maxHeaders
    public static let maxMethodLength = RequestLineGrammar.maxMethodLength

    private var reader: HeadReader<RequestLineGrammar>

    public init(limit: Int = 16 * 1024) {
        self.limit = limit
        reader = HeadReader(limit: limit, grammar: RequestLineGrammar())
    }

    /// Feed the next bytes read from the client. `.complete(head, consumed)`:
    /// `consumed` is how many of THESE bytes belong to the head; the rest are
    /// tunnel bytes. After an error every call throws it again; after
    /// completion every call returns the head with `consumed: 0`.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(HTTPHeadError) -> HeadParseStep<ConnectRequestHead> {
        try reader.feed(bytes)
    }

    /// Call when the connection ends before the head is complete.
    public func endOfInput() -> HTTPHeadError { reader.endOfInput() }
}

/// "METHOD target HTTP/1.x", then headers.
struct RequestLineGrammar: HeadGrammar {
    static let maxMethodLength = 32
    var invalid: String { "invalid request" }
    var noun: String { "request" }
    var sender: String { "client" }
    // Request-line shape checked byte by byte: field 0 method, 1 target, 2 version.
    private var field = 0
    private var fieldLength = 0

    /// METHOD (token, 1...maxMethodLength) SP target (visible ASCII) SP HTTP/1.0|1.1,
    /// then CR/LF. Keeps only two counters, so each byte costs O(1).
    mutating func accepts(_ byte: UInt8, at position: Int) -> Bool {
        let isSpace = byte == 0x20
        switch field {
        case 0, 1:
            if isSpace {
                guard fieldLength > 0 else { return false }
                field += 1
                fieldLength = 0
                return true
            }
            let ok = field == 0
                ? HTTPToken.isTokenByte(byte) && fieldLength < Self.maxMethodLength
                : (0x21...0x7E).contains(byte)
            if ok { fieldLength += 1 }
            return ok
        default:
            switch fieldLength {
            case 0..<7:
                guard byte == Self.httpPrefix[fieldLength] else { return false }
            case 7:
                guard byte == UInt8(ascii: "0") || byte == UInt8(ascii: "1") else { return false }
            default:
                // Line end only; not counted so the CR of CRLF leaves room for the LF.
                return byte == 0x0D || byte == 0x0A
            }
            fieldLength += 1
            return true
        }
    }
    private static let httpPrefix: [UInt8] = Array("HTTP/1.".utf8)

    func parseStartLine(_ line: [UInt8]) throws(HTTPHeadError) -> (method: String, target: String, version: String) {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        // `accepts` guarantees this shape; checked again rather than trusted.
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, parts[2].count == 8 else {
            throw notHTTP(line)
        }
        return (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self),
                String(decoding: parts[2], as: UTF8.self))
    }

    func head(_ start: (method: String, target: String, version: String), headers: [HTTPHeader]) -> ConnectRequestHead {
        ConnectRequestHead(method: start.method, target: start.target, version: start.version, headers: headers)
    }

    func notHTTP(_ sent: [UInt8]) -> HTTPHeadError {
        HTTPHeadError(message: "invalid request: expected \"CONNECT host:port HTTP/1.1\", got \(PrintableText.quoted(sent))")
    }
}
