/// The gateway's answer to CONNECT: status line and headers.
public struct ResponseHead: Sendable, Equatable {
    public var status: Int
    public var reason: String
    public var headers: [HTTPHeader]

    public init(status: Int, reason: String, headers: [HTTPHeader]) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }

    /// First value of header `name`, case-insensitive.
    public func value(of name: String) -> String? { headers.firstValue(named: name) }
}

/// Incremental parser for the gateway's HTTP/1.x response head.
///
/// The gateway is untrusted input: the head is bounded by `limit` bytes and
/// `maxHeaders` lines, and bytes that cannot start "HTTP/1.x NNN" fail at once
/// (an SSH banner or a TLS alert is reported on its first bytes, not after
/// waiting for 16 KiB). Never reads past the head: `consumed` says where the
/// tunnel bytes start in the chunk that completed it.
public struct ResponseHeadParser: Sendable {
    public let limit: Int
    /// Who answers, as error messages name it: "gateway", or "egress proxy host:port".
    public let peer: String
    public static let maxHeaders = HeadReader<StatusLineGrammar>.maxHeaders

    private var reader: HeadReader<StatusLineGrammar>

    public init(limit: Int = 16 * 1024, peer: String = "gateway") {
        self.limit = limit
        self.peer = peer
        reader = HeadReader(limit: limit, grammar: StatusLineGrammar(peer: peer))
    }

    /// Feed the next bytes read from the gateway. `.complete(head, consumed)`:
    /// `consumed` is how many of THESE bytes belong to the head; the rest
    /// (bytes[consumed...]) are tunnel bytes that must be forwarded.
    /// After an error every call throws it again; after completion every call
    /// returns the head with `consumed: 0` (nothing more is taken).
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(HTTPHeadError) -> HeadParseStep<ResponseHead> {
        try reader.feed(bytes)
    }

    /// Call when the connection ends before the head is complete; returns the
    /// error to report.
    public func endOfInput() -> HTTPHeadError { reader.endOfInput() }
}

/// "HTTP/1.x NNN[ reason]", then headers.
struct StatusLineGrammar: HeadGrammar {
    let peer: String
    var invalid: String { "\(peer) sent an invalid response" }
    var noun: String { "response" }
    var sender: String { peer }

    /// Can `byte` be at offset `position` of a status line "HTTP/1.x NNN ..."?
    /// CR and LF count as the line end, allowed only right after the code.
    func accepts(_ byte: UInt8, at position: Int) -> Bool {
        switch position {
        case 0..<7: return byte == Self.httpPrefix[position]
        case 7: return byte == UInt8(ascii: "0") || byte == UInt8(ascii: "1")
        case 8: return byte == 0x20
        case 9...11: return HTTPToken.isDigit(byte)
        case 12: return byte == 0x20 || byte == 0x0D || byte == 0x0A
        default: return true
        }
    }
    private static let httpPrefix: [UInt8] = Array("HTTP/1.".utf8)

    /// The first 12 bytes were already checked one by one by `accepts`.
    func parseStartLine(_ line: [UInt8]) throws(HTTPHeadError) -> (status: Int, reason: String) {
        guard line.count >= 12, line[9...11].allSatisfy(HTTPToken.isDigit),
              line.count == 12 || line[12] == 0x20
        else { throw notHTTP(line) }
        let status = line[9...11].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard (100...599).contains(status) else {
            throw HTTPHeadError(message: "\(invalid): status \(status) is not between 100 and 599")
        }
        let reason = line.count > 13 ? String(decoding: line[13...], as: UTF8.self) : ""
        return (status, reason)
    }

    func head(_ start: (status: Int, reason: String), headers: [HTTPHeader]) -> ResponseHead {
        ResponseHead(status: start.status, reason: start.reason, headers: headers)
    }

    func notHTTP(_ sent: [UInt8]) -> HTTPHeadError {
        HTTPHeadError(message: "\(invalid): expected \"HTTP/1.1 <status>\", got \(PrintableText.quoted(sent))")
    }
}
