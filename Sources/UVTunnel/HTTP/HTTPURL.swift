/// An absolute http:// or https:// URL, as the sign-in flow needs it: the
/// login call's address, the redirects it follows, and the browser callback.
///
/// Parsed strictly because the pieces go into a request line, a Host header,
/// TLS SNI and a Location header: printable ASCII only, no userinfo (the
/// classic `http://127.0.0.1@evil.com/` trick), no backslash (browsers read it
/// as "/", so we could disagree with them on the host), and the host and port
/// validated by HostPort. The fragment is dropped: it is never sent.
public struct HTTPURL: Sendable, Equatable, CustomStringConvertible {
    /// "http" or "https", lower-cased.
    public let scheme: String
    /// Lower-cased host name or address; IPv6 without brackets.
    public let host: String
    /// The explicit port, else 80 for http and 443 for https.
    public let port: UInt16
    /// False when the port was left out of the text (so `description` leaves it out too).
    public let hasExplicitPort: Bool
    /// What goes in the request line: starts with "/", dot segments removed.
    public let pathAndQuery: String

    /// Longer than this is not a URL we will follow or send.
    public static let maxLength = 8 * 1024

    /// Host as written in a URL: brackets for IPv6.
    public var hostForURL: String { host.contains(":") ? "[\(host)]" : host }
    /// "host:port" with the port always present and IPv6 in brackets: for
    /// dialling and cache keys (a Host header omits a default port, as
    /// `description` does).
    public var authority: String { "\(hostForURL):\(port)" }
    public var isTLS: Bool { scheme == "https" }

    public var description: String {
        "\(scheme)://\(hostForURL)\(hasExplicitPort ? ":\(port)" : "")\(pathAndQuery)"
    }

    init(scheme: String, host: String, port: UInt16?, pathAndQuery: String) {
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = port ?? Self.defaultPort(scheme)
        self.hasExplicitPort = port != nil
        self.pathAndQuery = pathAndQuery
    }

    static func defaultPort(_ scheme: String) -> UInt16 { scheme == "https" ? 443 : 80 }

    public static func parse(_ text: String) throws(HTTPURLError) -> HTTPURL {
        func invalid(_ why: String) -> HTTPURLError {
            HTTPURLError(message: "invalid URL \(PrintableText.quoted(text)): \(why)")
        }
        try checkCharacters(text, invalid: invalid)
        guard let separator = text.firstRange(of: "://") else {
            throw invalid("not an absolute URL; expected http://host/… or https://host/…")
        }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw invalid("scheme must be http or https")
        }
        let rest = text[separator.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authorityText = rest[..<authorityEnd]
        guard !authorityText.isEmpty else { throw invalid("missing host") }
        guard !authorityText.contains("@") else {
            throw invalid("user name or password before the host (\"user@host\") is not allowed")
        }
        let hostPort: HostPort
        do {
            hostPort = try HostPort.parse(authorityText, portRequired: false)
        } catch {
            throw invalid(error.why)
        }
        var target = rest[authorityEnd...]
        if let hash = target.firstIndex(of: "#") { target = target[..<hash] }
        return HTTPURL(scheme: scheme, host: hostPort.host, port: hostPort.port,
                       pathAndQuery: normalisedTarget(target))
    }

    /// "" → "/", "?q" → "/?q", and "." / ".." segments of the path resolved
    /// (RFC 3986 §5.2.4), so the same resource always serialises the same way.
    static func normalisedTarget(_ target: Substring) -> String {
        let queryStart = target.firstIndex(of: "?") ?? target.endIndex
        let path = DotSegments.remove(from: String(target[..<queryStart]))
        return (path.isEmpty ? "/" : path) + target[queryStart...]
    }

    /// Printable ASCII only, no backslash, bounded length.
    static func checkCharacters(_ text: String, invalid: (String) -> HTTPURLError) throws(HTTPURLError) {
        guard !text.isEmpty else { throw invalid("empty") }
        guard text.utf8.count <= maxLength else { throw invalid("longer than \(maxLength) bytes") }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): throw invalid("contains a backslash")
            case 0x21...0x7E: continue
            case 0x20: throw invalid("contains a space")
            case 0x00...0x1F, 0x7F: throw invalid("contains control character 0x\(PrintableText.hex(byte))")
            default: throw invalid("contains a non-ASCII byte 0x\(PrintableText.hex(byte)); percent-encode it")
            }
        }
    }
}

/// A URL that cannot be used; one printable line naming the URL and the reason.
public struct HTTPURLError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
