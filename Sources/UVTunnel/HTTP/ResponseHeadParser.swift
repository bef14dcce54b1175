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
    public static let maxHeaders = 100

    private var splitter: HeadLineSplitter
    private var statusLine: (status: Int, reason: String)?
    private var headers: [HTTPHeader] = []
    private var state: State = .reading

    private enum State: Sendable {
        case reading
        case failed(HTTPHeadError)
        case done(ResponseHead)
    }

    public init(limit: Int = 16 * 1024, peer: String = "gateway") {
        self.limit = limit
        self.peer = peer
        self.splitter = HeadLineSplitter(limit: limit)
    }

    /// Feed the next bytes read from the gateway. `.complete(head, consumed)`:
    /// `consumed` is how many of THESE bytes belong to the head; the rest
    /// (bytes[consumed...]) are tunnel bytes that must be forwarded.
    /// After an error every call throws it again; after completion every call
    /// returns the head with `consumed: 0` (nothing more is taken).
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(HTTPHeadError) -> HeadParseStep<ResponseHead> {
        switch state {
        case .failed(let error): throw error
        case .done(let head): return .complete(head, consumed: 0)
        case .reading: break
        }
        var consumed = 0
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if statusLine == nil && !Self.statusLinePrefixAccepts(byte, at: splitter.line.count) {
                // Show what was sent: the line so far plus what follows in this read.
                throw fail(notHTTP(splitter.line + Array(bytes[index...].prefix(64))))
            }
            consumed += 1
            let line: [UInt8]?
            do {
                line = try splitter.push(byte)
            } catch {
                throw fail(describe(error))
            }
            if let line, let head = try take(line) {
                state = .done(head)
                return .complete(head, consumed: consumed)
            }
            bytes.formIndex(after: &index)
        }
        return .needMore
    }

    /// Call when the connection ends before the head is complete; returns the
    /// error to report.
    public func endOfInput() -> HTTPHeadError {
        switch state {
        case .failed(let error):
            return error
        case .done:
            return HTTPHeadError(message: "\(peer) closed the connection after the response head")
        case .reading:
            if splitter.count == 0 {
                return HTTPHeadError(message: "\(peer) closed the connection before sending a response")
            }
            return HTTPHeadError(message: "\(peer) closed the connection after \(splitter.count) bytes, before the end of the response head")
        }
    }

    // MARK: - Lines

    /// Handles one complete line; returns the head when `line` is the blank
    /// line that ends it.
    private mutating func take(_ line: [UInt8]) throws(HTTPHeadError) -> ResponseHead? {
        guard let statusLine else {
            self.statusLine = try parseStatusLine(line)
            return nil
        }
        if line.isEmpty {
            return ResponseHead(status: statusLine.status, reason: statusLine.reason, headers: headers)
        }
        guard headers.count < Self.maxHeaders else {
            throw fail(HTTPHeadError(message: "\(peer) sent an invalid response: more than \(Self.maxHeaders) header lines"))
        }
        guard let header = HTTPToken.parseHeaderLine(line) else {
            throw fail(HTTPHeadError(message: "\(peer) sent an invalid response: malformed header line \(PrintableText.quoted(line))"))
        }
        headers.append(header)
        return nil
    }

    /// "HTTP/1.x NNN[ reason]"; the first 12 bytes were already checked one by
    /// one by statusLinePrefixAccepts.
    private mutating func parseStatusLine(_ line: [UInt8]) throws(HTTPHeadError) -> (status: Int, reason: String) {
        guard line.count >= 12, line[9...11].allSatisfy(HTTPToken.isDigit),
              line.count == 12 || line[12] == 0x20
        else { throw fail(notHTTP(line)) }
        let status = line[9...11].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard (100...599).contains(status) else {
            throw fail(HTTPHeadError(message: "\(peer) sent an invalid response: status \(status) is not between 100 and 599"))
        }
        let reason = line.count > 13 ? String(decoding: line[13...], as: UTF8.self) : ""
        return (status, reason)
    }

    /// Can `byte` be at offset `position` of a status line "HTTP/1.x NNN ..."?
    /// CR and LF count as the line end, allowed only right after the code.
    static func statusLinePrefixAccepts(_ byte: UInt8, at position: Int) -> Bool {
        switch position {
        case 0..<7: return byte == httpPrefix[position]
        case 7: return byte == UInt8(ascii: "0") || byte == UInt8(ascii: "1")
        case 8: return byte == 0x20
        case 9...11: return HTTPToken.isDigit(byte)
        case 12: return byte == 0x20 || byte == 0x0D || byte == 0x0A
        default: return true
        }
    }
    private static let httpPrefix: [UInt8] = Array("HTTP/1.".utf8)

    // MARK: - Errors

    private mutating func fail(_ error: HTTPHeadError) -> HTTPHeadError {
        state = .failed(error)
        return error
    }

    private func notHTTP(_ sent: [UInt8]) -> HTTPHeadError {
        HTTPHeadError(message: "\(peer) sent an invalid response: expected \"HTTP/1.1 <status>\", got \(PrintableText.quoted(sent))")
    }

    private func describe(_ problem: HeadLineSplitter.Problem) -> HTTPHeadError {
        switch problem {
        case .tooLarge:
            return HTTPHeadError(message: "\(peer) sent an invalid response: response head larger than \(limit) bytes")
        case .controlByte(let byte):
            return HTTPHeadError(message: "\(peer) sent an invalid response: control character 0x\(PrintableText.hex(byte)) in the response head")
        case .strayCarriageReturn:
            return HTTPHeadError(message: "\(peer) sent an invalid response: carriage return not followed by line feed in the response head")
        }
    }
}
