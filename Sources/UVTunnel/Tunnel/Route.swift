/// Where one tunnel goes: the destination named in CONNECT and the gateway
/// that carries it. Parsed once from the ROUTE argument and --pomerium-url, at
/// start-up, so bad input is a usage error (exit 2) before any socket opens.
///
/// ROUTE forms (SPEC "Command line"):
/// - `host:port`                     → CONNECT host:port via https://host:443
/// - `scheme://host:port`            → same; the URL's port is the destination's,
///                                     never the gateway's; `tcp+` is stripped
/// - `scheme://gw[:port]/host:port`  → CONNECT host:port via gw[:port]
/// - `--pomerium-url URL`            → replaces the gateway of any form above
/// Scheme `http` means plain HTTP (default port 80); every other scheme means
/// TLS (default port 443), so an odd scheme never sends a token in clear text.
public struct Route: Equatable, Sendable {
    /// Exactly what goes in "CONNECT <destination> HTTP/1.1" and Host:, e.g.
    /// "db.corp:5432" or "[2001:db8::1]:22".
    public var destination: String
    /// Host to dial and to verify the certificate against; IPv6 without brackets.
    public var gatewayHost: String
    public var gatewayPort: UInt16
    /// false only when the gateway URL's scheme is http://.
    public var useTLS: Bool

    /// Host as written in a URL: brackets for IPv6, e.g. "[::1]".
    public var gatewayHostForURL: String {
        gatewayHost.contains(":") ? "[\(gatewayHost)]" : gatewayHost
    }
    /// "host:port" with brackets for IPv6, e.g. "gw.example:443", "[::1]:8443".
    public var gatewayAuthority: String { "\(gatewayHostForURL):\(gatewayPort)" }

    public init(destination: String, gatewayHost: String, gatewayPort: UInt16, useTLS: Bool) {
        self.destination = destination
        self.gatewayHost = gatewayHost
        self.gatewayPort = gatewayPort
        self.useTLS = useTLS
    }

    /// Longer than this is certainly a mistake (a pasted file, a wrong variable).
    public static let maxLength = 2048

    /// `kind`: a udp entry takes `udp+scheme://` where a tcp one takes `tcp+scheme://`.
    public static func parse(_ route: String, pomeriumURL: String?, spelling: OptionSpelling = .commandLine,
                             kind: TunnelProtocol = .tcp) throws(RouteError) -> Route {
        guard !route.isEmpty else {
            throw RouteError(message: "missing route: give the destination as host:port, e.g. db.corp:5432")
        }
        let shown = PrintableText.quoted(route)
        func invalid(_ why: String) -> RouteError { RouteError(message: "invalid route \(shown): \(why)") }

        guard route.utf8.count <= maxLength else {
            throw invalid("longer than \(maxLength) bytes")
        }
        if let what = forbiddenCharacter(in: route) {
            throw invalid("contains \(what); a route is host:port with no spaces or control characters")
        }

        var result: Route
        if let separator = route.firstRange(of: "://") {
            result = try parseURLForm(scheme: route[..<separator.lowerBound],
                                      rest: route[separator.upperBound...], kind: kind, spelling: spelling, invalid: invalid)
        } else {
            let destination = try hostPort(route[...], portRequired: true, invalid: invalid)
            result = Route(destination: authority(destination), gatewayHost: destination.host,
                           gatewayPort: 443, useTLS: true)
        }

        if let url = pomeriumURL, !url.isEmpty {
            let gateway = try parsePomeriumURL(url, spelling: spelling)
            result.gatewayHost = gateway.host
            result.gatewayPort = gateway.port
            result.useTLS = gateway.useTLS
        }
        return result
    }

    // MARK: - Forms

    private static func parseURLForm(scheme rawScheme: Substring, rest: Substring, kind: TunnelProtocol,
                                     spelling: OptionSpelling, invalid: (String) -> RouteError) throws(RouteError) -> Route {
        guard isURLScheme(rawScheme) else {
            throw invalid("\(PrintableText.quoted(String(rawScheme) + "://")) does not start a URL; use host:port or tcp+https://host:port")
        }
        var scheme = rawScheme.lowercased()
        // A route of the other protocol would be tunnelled the wrong way: refuse it.
        let own = kind.rawValue + "+", other = kind == .tcp ? "udp+" : "tcp+"
        if scheme.hasPrefix(other) {
            let word = other.dropLast()
            let how = spelling == .configFile ? "protocol = \"\(word)\" in its [[tunnel]]" : "`uvtunnel \(word)`"
            throw invalid("a \(word.uppercased()) route needs \(how)")
        }
        if scheme.hasPrefix(own) { scheme.removeFirst(4) }
        guard !scheme.isEmpty else {
            throw invalid("missing scheme after \"\(own)\"; use \(own)https://host:port")
        }
        if rest.contains("?") || rest.contains("#") {
            throw invalid("a route has no query (?) or fragment (#); use scheme://host:port or https://gateway/host:port")
        }
        let useTLS = scheme != "http"
        let defaultPort: UInt16 = useTLS ? 443 : 80

        let slash = rest.firstIndex(of: "/")
        let authorityText = slash.map { rest[..<$0] } ?? rest
        let path = slash.map { rest[$0...] } ?? ""
        guard !authorityText.isEmpty else {
            throw invalid("missing host after \"\(rawScheme)://\"")
        }

        if path.isEmpty || path == "/" {
            // scheme://host:port — the port is the destination's; gateway is host on the default port.
            let destination = try hostPort(authorityText, portRequired: true, invalid: invalid)
            return Route(destination: authority(destination), gatewayHost: destination.host,
                         gatewayPort: defaultPort, useTLS: useTLS)
        }

        // scheme://gateway[:port]/host:port[/]
        let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        let first = segments[0]
        guard !first.isEmpty else {
            throw invalid("empty destination in the path; use https://gateway/host:port")
        }
        guard segments.count == 1 || (segments.count == 2 && segments[1].isEmpty) else {
            throw invalid("unexpected path after the destination \(PrintableText.quoted(first)); use https://gateway/host:port")
        }
        let destination = try hostPort(first, portRequired: true, invalid: invalid)
        let gateway = try hostPort(authorityText, portRequired: false) { why in
            invalid("in the gateway \(PrintableText.quoted(authorityText)): \(why)")
        }
        return Route(destination: authority(destination), gatewayHost: gateway.host,
                     gatewayPort: gateway.port ?? defaultPort, useTLS: useTLS)
    }

    /// --pomerium-url: only http (plain) or https (TLS); path and query are ignored,
    /// as pomerium-cli only uses the URL's host and port.
    private static func parsePomeriumURL(_ url: String, spelling: OptionSpelling) throws(RouteError) -> (host: String, port: UInt16, useTLS: Bool) {
        let shown = PrintableText.quoted(url)
        func invalid(_ why: String) -> RouteError {
            RouteError(message: "invalid \(spelling.name("pomerium-url")) \(shown): \(why)")
        }
        guard url.utf8.count <= maxLength else { throw invalid("longer than \(maxLength) bytes") }
        if let what = forbiddenCharacter(in: url) {
            throw invalid("contains \(what)")
        }
        guard let separator = url.firstRange(of: "://") else {
            throw invalid("missing scheme; use https://gateway or http://gateway, e.g. https://gw.example")
        }
        let scheme = url[..<separator.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else {
            throw invalid("scheme must be http or https, e.g. https://gw.example")
        }
        let rest = url[separator.upperBound...]
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authorityText = rest[..<end]
        guard !authorityText.isEmpty else {
            throw invalid("has no host, e.g. https://gw.example")
        }
        let gateway = try hostPort(authorityText, portRequired: false, invalid: invalid)
        let useTLS = scheme == "https"
        return (gateway.host, gateway.port ?? (useTLS ? 443 : 80), useTLS)
    }

    // MARK: - Helpers

    private static func hostPort(_ text: Substring, portRequired: Bool,
                                 invalid: (String) -> RouteError) throws(RouteError) -> HostPort {
        do {
            return try HostPort.parse(text, portRequired: portRequired)
        } catch {
            throw invalid(error.why)
        }
    }

    private static func authority(_ hp: HostPort) -> String {
        "\(hp.hostForURL):\(hp.port ?? 0)"
    }

    /// RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), bounded.
    private static func isURLScheme(_ s: Substring) -> Bool {
        guard let first = s.utf8.first, s.utf8.count <= 32,
              (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first | 0x20)
        else { return false }
        return s.utf8.allSatisfy { b in
            HostPort.isHostNameByte(b) && b != UInt8(ascii: "_") || b == UInt8(ascii: "+")
        }
    }

    /// The destination ends up in an HTTP request line and the gateway host in
    /// TLS SNI: anything outside printable ASCII (space, CR, LF, tab, other
    /// controls, non-ASCII) could inject or confuse, so it is named and refused.
    static func forbiddenCharacter(in text: String) -> String? {
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x21...0x7E: continue
            case 0x20: return "a space"
            case 0x09: return "a tab"
            case 0x0D: return "a carriage return (CR)"
            case 0x0A: return "a line feed (LF)"
            case 0x00...0x1F, 0x7F:
                return "control character 0x" + PrintableText.hex(UInt8(scalar.value))
            default:
                return "non-ASCII character \(PrintableText.quoted(String(scalar)))"
                    + " (write international host names in their xn-- form)"
            }
        }
        return nil
    }
}

/// A ROUTE or --pomerium-url the user must fix; one line, shown as a usage error.
public struct RouteError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
