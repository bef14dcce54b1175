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
        var out: [UInt8] = []
        out.reserveCapacity(128 + 2 * target.count + (credential?.value.utf8.count ?? 0))
        out += Array("CONNECT ".utf8) + target + Array(" HTTP/1.1\r\n".utf8)
        out += Array("Host: ".utf8) + target + crlf
        out += Array("User-Agent: ".utf8) + printable(userAgent) + crlf
        switch credential {
        case .pomeriumToken(let token)?:
            let jwt = visible(token)
            if !jwt.isEmpty { out += Array("Authorization: Pomerium ".utf8) + jwt + crlf }
        case .proxyAuthorization(let value)?:
            out += Array("Proxy-Authorization: ".utf8) + printable(value) + crlf
        case nil:
            break
        }
        out += crlf
        return out
    }

    private static let crlf: [UInt8] = [0x0D, 0x0A]

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
