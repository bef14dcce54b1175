/// The one CONNECT request uvtunnel sends, to the gateway (SPEC "Wire
/// protocol") and to an egress proxy alike:
///
///     CONNECT host:port HTTP/1.1\r\n
///     Host: host:port\r\n
///     User-Agent: uvtunnel/<version>\r\n
///     Authorization: Pomerium <jwt>\r\n                     (to the gateway, when a token is known)
///     Proxy-Authorization: Basic <base64 user:password>\r\n (to a proxy, with credentials)
///     \r\n
///
/// A request to the proxy never carries the gateway token: that goes inside
/// the tunnel, under TLS, where the proxy cannot read it.
public enum ConnectRequest {
    /// Who the credential is for.
    public enum Credential: Sendable, Equatable {
        /// The user's token, for the gateway; an empty token sends no header.
        case pomeriumToken(String)
        /// `Basic …` for an egress proxy.
        case proxyAuthorization(String)
    }

    /// `authority` comes from Route.parse or HTTPURL (already validated) and a
    /// token from a file or a browser redirect. As defence in depth, bytes
    /// that could end a line or split a field are dropped here too (a JWT
    /// never has them), so a corrupt token file can never inject a header.
    public static func encode(authority: String, userAgent: String, credential: Credential?) -> [UInt8] {
        let target = visible(authority)
        return head(requestLine: Array("CONNECT ".utf8) + target + Array(" HTTP/1.1".utf8), host: target,
                    extra: [], userAgent: userAgent, credential: credential)
    }

    /// The connect-udp upgrade (RFC 9298 over HTTP/1.1, as pomerium-cli's
    /// `TunnelUDP`) for `destination` ("host:port", IPv6 in brackets):
    ///
    ///     GET /.well-known/masque/udp/{host}/{port}/ HTTP/1.1\r\n
    ///     Host: host:port\r\n
    ///     Connection: Upgrade\r\n
    ///     Upgrade: connect-udp\r\n
    ///     Capsule-Protocol: ?1\r\n
    ///     User-Agent, Authorization as for CONNECT
    ///
    /// The path carries the host without brackets, as Go's SplitHostPort
    /// gives it to pomerium-cli. A `destination` without a port yields an
    /// empty port segment; Route.parse never makes one.
    public static func encodeConnectUDP(destination: String, userAgent: String, credential: Credential?) -> [UInt8] {
        let (path, authority) = connectUDPTarget(destination: destination)
        return head(requestLine: Array("GET ".utf8) + path + Array(" HTTP/1.1".utf8), host: authority,
                    extra: ["Connection: Upgrade", "Upgrade: connect-udp", "Capsule-Protocol: ?1"],
                    userAgent: userAgent, credential: credential)
    }

    /// The connect-udp request's path and authority for `destination`: the
    /// HTTP/1.1 upgrade's request target and Host, HTTP/2's `:path` and
    /// `:authority` (RFC 9298 over RFC 8441), so both ways ask the same.
    static func connectUDPTarget(destination: String) -> (path: [UInt8], authority: [UInt8]) {
        let authority = visible(destination)
        let colon = authority.lastIndex(of: UInt8(ascii: ":")) ?? authority.endIndex
        var host = authority[..<colon]
        if host.first == UInt8(ascii: "["), host.last == UInt8(ascii: "]") { host = host.dropFirst().dropLast() }
        // '/' in the host or port would change the path's shape: never in a
        // validated route, dropped here as defence in depth.
        let slash = UInt8(ascii: "/")
        let port = authority[min(colon + 1, authority.endIndex)...].filter { $0 != slash }
        let path = Array("/.well-known/masque/udp/".utf8) + host.filter { $0 != slash } + [slash] + port + [slash]
        return (path, Array(authority))
    }

    /// The one header writer: request line, Host, `extra` (constant lines),
    /// User-Agent, the credential, the empty line.
    private static func head(requestLine: [UInt8], host: [UInt8], extra: [String], userAgent: String,
                             credential: Credential?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + requestLine.count + host.count + (credential?.value.utf8.count ?? 0))
        out += requestLine + crlf
        out += Array("Host: ".utf8) + host + crlf
        for line in extra { out += Array(line.utf8) + crlf }
        out += Array("User-Agent: \(headerValue(userAgent: userAgent))".utf8) + crlf
        switch credential {
        case .pomeriumToken(let token)?:
            if let value = authorizationValue(pomeriumToken: token) { out += Array("Authorization: \(value)".utf8) + crlf }
        case .proxyAuthorization(let value)?:
            out += Array("Proxy-Authorization: ".utf8) + printable(value) + crlf
        case nil:
            break
        }
        out += crlf
        return out
    }

    private static let crlf: [UInt8] = [0x0D, 0x0A]

    /// `Pomerium <jwt>`, the token's visible ASCII only; nil for an empty
    /// token (no header). The HTTP/2 path sends the same value.
    static func authorizationValue(pomeriumToken token: String) -> String? {
        let jwt = visible(token)
        return jwt.isEmpty ? nil : "Pomerium " + String(decoding: jwt, as: UTF8.self)
    }

    /// The User-Agent value as sent on either path: visible ASCII and spaces.
    static func headerValue(userAgent: String) -> String {
        String(decoding: printable(userAgent), as: UTF8.self)
    }

    /// Visible ASCII only: no space, control or non-ASCII byte.
    private static func visible(_ s: String) -> [UInt8] { s.utf8.filter { (0x21...0x7E).contains($0) } }

    /// Visible ASCII and space (a User-Agent may have several words).
    private static func printable(_ s: String) -> [UInt8] { s.utf8.filter { (0x20...0x7E).contains($0) } }
}

private extension ConnectRequest.Credential {
    var value: String {
        switch self {
        case .pomeriumToken(let s), .proxyAuthorization(let s): return s
        }
    }
}
