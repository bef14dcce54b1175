/// One `host:port` (or `[IPv6]:port`) taken from a route or a gateway URL.
///
/// Parsed strictly because the destination is copied into an HTTP request line
/// and the gateway host into TLS SNI: only host-name characters, a validated
/// IPv6 literal, and a decimal port 1...65535 get through.
package struct HostPort: Equatable, Sendable {
    /// Host name or address; IPv6 without brackets (as dialled and as SNI/cert name).
    package var host: String
    /// nil when the text had no port and none was required.
    package var port: UInt16?

    /// The host as written in a URL or authority: brackets around IPv6.
    package var hostForURL: String { host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host }

    /// Why a piece of text is not a host:port, as a phrase that follows
    /// `invalid route "…": `.
    package struct Problem: Error, Equatable {
        var why: String
        init(_ why: String) { self.why = why }
    }

    /// DNS limits a name to 253 characters; longer cannot be resolved anyway.
    static let maxHostLength = 253

    /// Caller has already rejected spaces, control and non-ASCII characters.
    package static func parse(_ text: Substring, portRequired: Bool) throws(Problem) -> HostPort {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else {
            throw Problem("missing host; use host:port, e.g. db.corp:5432")
        }
        let host: String
        var rest: ArraySlice<UInt8>  // "" or ":port"
        if bytes[0] == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else {
                throw Problem("missing \"]\" after the IPv6 address; use [2001:db8::1]:22")
            }
            let literal = bytes[1..<close]
            guard !literal.isEmpty else {
                throw Problem("empty IPv6 address in brackets; use [2001:db8::1]:22")
            }
            guard IPv6Literal.isValid(literal) else {
                throw Problem("\(PrintableText.quoted(literal)) is not an IPv6 address; use [2001:db8::1]:22")
            }
            host = String(decoding: literal, as: UTF8.self)
            rest = bytes[(close + 1)...]
            if let first = rest.first, first != UInt8(ascii: ":") {
                throw Problem("unexpected \(PrintableText.quoted(rest)) after \"]\"; use [\(host)]:port")
            }
        } else {
            let colon = bytes.lastIndex(of: UInt8(ascii: ":"))
            let name = colon.map { bytes[..<$0] } ?? bytes[...]
            rest = colon.map { bytes[$0...] } ?? []
            guard !name.isEmpty else {
                throw Problem("missing host before \(PrintableText.quoted(rest)); use host:port, e.g. db.corp:5432")
            }
            if name.contains(UInt8(ascii: ":")) {
                throw Problem("host \(PrintableText.quoted(name)) contains \":\"; write IPv6 addresses in brackets, e.g. [2001:db8::1]:22")
            }
            if let bad = name.first(where: { !isHostNameByte($0) }) {
                throw Problem("host \(PrintableText.quoted(name)) contains \(PrintableText.quoted([bad])); a host name has only letters, digits, \"-\", \".\" and \"_\"")
            }
            guard name.count <= maxHostLength else {
                throw Problem("host name longer than \(maxHostLength) characters")
            }
            host = String(decoding: name, as: UTF8.self)
        }

        let shownHost = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        guard !rest.isEmpty else {
            if portRequired {
                throw Problem("missing port; use host:port, e.g. \(shownHost):5432")
            }
            return HostPort(host: host, port: nil)
        }
        let digits = rest.dropFirst()  // drop ":"
        guard !digits.isEmpty else {
            throw Problem("missing port after \":\"; use host:port, e.g. \(shownHost):5432")
        }
        guard let port = parsePort(digits) else {
            throw Problem("port \(PrintableText.quoted(digits)) is not a number from 1 to 65535")
        }
        return HostPort(host: host, port: port)
    }

    /// Decimal 1...65535; at most 5 digits so the arithmetic cannot overflow.
    static func parsePort(_ digits: ArraySlice<UInt8>) -> UInt16? {
        guard (1...5).contains(digits.count) else { return nil }
        var value = 0
        for d in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) else { return nil }
            value = value * 10 + Int(d - UInt8(ascii: "0"))
        }
        guard (1...65535).contains(value) else { return nil }
        return UInt16(value)
    }

    /// Letters, digits, "-", "." and "_" (internal names use "_"): nothing that
    /// could end a request line, start a path or smuggle userinfo ("@").
    static func isHostNameByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }
}

/// RFC 4291 textual IPv6 (no zone id): up to eight 1-4 digit hex groups, one
/// "::", an optional dotted IPv4 tail. Strict so "[", "]" can't hide junk.
enum IPv6Literal {
    static func isValid(_ text: some Collection<UInt8>) -> Bool {
        let bytes = Array(text)
        guard bytes.count >= 2, bytes.count <= 45 else { return false }
        let colon = UInt8(ascii: ":")
        // Locate the single "::" if any.
        var doubleAt: Int?
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == colon && bytes[i + 1] == colon {
                if doubleAt != nil { return false }
                doubleAt = i
                i += 2
            } else {
                i += 1
            }
        }
        let groups: Int
        if let at = doubleAt {
            guard let left = countGroups(bytes[..<at], allowIPv4Tail: false),
                  let right = countGroups(bytes[(at + 2)...], allowIPv4Tail: true)
            else { return false }
            groups = left + right
            return groups <= 7
        } else {
            guard let all = countGroups(bytes[...], allowIPv4Tail: true) else { return false }
            return all == 8
        }
    }

    /// Number of 16-bit groups in "a:b:c" (IPv4 tail counts 2), nil if malformed.
    private static func countGroups(_ part: ArraySlice<UInt8>, allowIPv4Tail: Bool) -> Int? {
        if part.isEmpty { return 0 }
        let pieces = part.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        var count = 0
        for (index, piece) in pieces.enumerated() {
            if allowIPv4Tail && index == pieces.count - 1 && piece.contains(UInt8(ascii: ".")) {
                guard isIPv4(piece) else { return nil }
                count += 2
            } else {
                guard (1...4).contains(piece.count), piece.allSatisfy(isHexDigit) else { return nil }
                count += 1
            }
        }
        return count
    }

    private static func isIPv4(_ text: ArraySlice<UInt8>) -> Bool {
        let octets = text.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard octets.count == 4 else { return false }
        return octets.allSatisfy { octet in
            guard (1...3).contains(octet.count),
                  octet.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
            else { return false }
            return octet.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) } <= 255
        }
    }

    private static func isHexDigit(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
             UInt8(ascii: "A")...UInt8(ascii: "F"):
            return true
        default:
            return false
        }
    }
}
