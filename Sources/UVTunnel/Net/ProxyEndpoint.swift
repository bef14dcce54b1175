import Foundation

/// One HTTP egress proxy, parsed from `--egress-proxy` or `HTTPS_PROXY`:
/// `http://[user:password@]host[:port][/]`, or `host:port` with the scheme
/// left out (curl and Go read that as http:// too).
///
/// Only plain-HTTP proxies that support CONNECT: the tunnel to the gateway is
/// TLS end to end inside the proxy's tunnel, so TLS to the proxy itself would
/// add nothing but a second handshake; SOCKS is a different protocol.
/// Parsed strictly because the host goes into the dial and the credentials
/// into a header line.
public struct ProxyEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// Host name or address; IPv6 without brackets.
    public var host: String
    public var port: UInt16
    /// Percent-decoded user name and password from the URL, if any.
    public var user: String?
    public var password: String?

    /// "host:port" with brackets for IPv6: what errors and logs name.
    /// Never holds the credentials.
    public var authority: String { "\(host.contains(":") ? "[\(host)]" : host):\(port)" }
    public var description: String { authority }

    /// The `Proxy-Authorization` value (RFC 7617 Basic), when the URL has a user.
    public var basicAuthorization: String? {
        guard let user else { return nil }
        return "Basic " + Data("\(user):\(password ?? "")".utf8).base64EncodedString()
    }

    /// A URL without a port means 80, as for any http:// URL (Go does the
    /// same; curl assumes 1080), so the port is best given explicitly.
    public static let defaultPort: UInt16 = 80

    /// `origin` names where the text came from ("--egress-proxy",
    /// "HTTPS_PROXY") for the message. The message never repeats the
    /// credentials, only the scheme or host that is at fault.
    public static func parse(_ text: String, origin: String) throws(EgressProxyError) -> ProxyEndpoint {
        func invalid(_ why: String) -> EgressProxyError {
            EgressProxyError(message: "\(origin): \(why)")
        }
        let hint = "use http://HOST:PORT or http://USER:PASSWORD@HOST:PORT, e.g. http://proxy.corp:3128"
        guard text.utf8.count <= 2048 else { throw invalid("longer than 2048 bytes") }
        if let what = Route.forbiddenCharacter(in: text) { throw invalid("contains \(what); \(hint)") }

        var rest = Substring(text)
        if let separator = text.firstRange(of: "://") {
            let scheme = text[..<separator.lowerBound].lowercased()
            switch scheme {
            case "http": break
            case "https":
                throw invalid("https:// proxies (TLS to the proxy) are not supported; \(hint) (the gateway connection is still TLS end to end)")
            case "socks4", "socks4a", "socks5", "socks5h", "socks":
                throw invalid("SOCKS proxies are not supported, only HTTP proxies that allow CONNECT; \(hint)")
            default:
                throw invalid("scheme \(PrintableText.quoted(scheme)) is not supported; \(hint)")
            }
            rest = text[separator.upperBound...]
        }
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard rest[end...].isEmpty || rest[end...] == "/" else {
            throw invalid("a proxy URL has no path, query or fragment; \(hint)")
        }
        var authorityText = rest[..<end]

        var user: String?
        var password: String?
        if let at = authorityText.lastIndex(of: "@") {
            let userInfo = authorityText[..<at]
            authorityText = authorityText[authorityText.index(after: at)...]
            let colon = userInfo.firstIndex(of: ":")
            user = try decodedCredential(userInfo[..<(colon ?? userInfo.endIndex)], what: "user name", invalid: invalid)
            if let colon {
                password = try decodedCredential(userInfo[userInfo.index(after: colon)...], what: "password", invalid: invalid)
            }
        }
        guard !authorityText.isEmpty else { throw invalid("missing host; \(hint)") }
        let hostPort: HostPort
        do {
            hostPort = try HostPort.parse(authorityText, portRequired: false)
        } catch {
            throw invalid("\(error.why)")
        }
        return ProxyEndpoint(host: hostPort.host.lowercased(), port: hostPort.port ?? defaultPort,
                             user: user, password: password)
    }

    /// Percent-decoded (a password may hold "@" or ":" as %40, %3A); no
    /// control characters, since the pair ends up in a header line.
    private static func decodedCredential(_ text: Substring, what: String,
                                          invalid: (String) -> EgressProxyError) throws(EgressProxyError) -> String {
        guard let decoded = PercentEncoding.decode(text),
              decoded.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw invalid("the \(what) is not valid percent-encoded text")
        }
        return decoded
    }
}

/// A proxy setting that cannot be used; one line naming the flag or variable.
public struct EgressProxyError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
