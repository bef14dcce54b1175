/// An HTTP/1.1 response the gateway composed (its sign-in pages) as HTTP/2
/// sees it: the status, header fields with lowercase names and without the
/// connection-specific ones HTTP/2 forbids (RFC 9113 section 8.2.2), the body.
struct H2ResponseTranslation: Equatable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    static let connectionSpecific: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]

    /// nil when `raw` is not a complete `HTTP/1.x NNN ...` head (never for the gateway's own pages).
    init?(_ raw: [UInt8]) {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = raw.indices.first(where: { raw[$0...].starts(with: separator) }) else { return nil }
        let lines = String(decoding: raw[..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines[0].split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]),
              (100...599).contains(status) else { return nil }
        self.status = status
        headers = lines.dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].lowercased()
            guard !Self.connectionSpecific.contains(name) else { return nil }
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            return (name, String(value.reversed().drop { $0 == " " || $0 == "\t" }.reversed()))
        }
        body = Array(raw[(end + 4)...])
    }

    static func == (a: Self, b: Self) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.map { [$0.0, $0.1] } == b.headers.map { [$0.0, $0.1] }
    }
}
