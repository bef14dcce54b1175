/// The request that asks an egress proxy for a tunnel to the gateway:
///
///     CONNECT gateway:port HTTP/1.1\r\n
///     Host: gateway:port\r\n
///     User-Agent: uvtunnel/<version>\r\n
///     Proxy-Authorization: Basic <base64 user:password>\r\n   (only with credentials)
///     \r\n
///
/// It carries no gateway token: that goes inside the tunnel, under TLS, where
/// the proxy cannot read it.
public enum ProxyConnectRequest {
    /// `authority` is "host:port" (IPv6 in brackets) from a validated Route
    /// or HTTPURL; as defence in depth every field keeps visible ASCII only,
    /// so nothing can end a line early.
    public static func encode(authority: String, userAgent: String, proxyAuthorization: String?) -> [UInt8] {
        let target = authority.utf8.filter { (0x21...0x7E).contains($0) }
        var out = Array("CONNECT ".utf8) + target + Array(" HTTP/1.1\r\n".utf8)
        out += Array("Host: ".utf8) + target + crlf
        out += Array("User-Agent: ".utf8) + userAgent.utf8.filter { (0x20...0x7E).contains($0) } + crlf
        if let proxyAuthorization {
            out += Array("Proxy-Authorization: ".utf8) + proxyAuthorization.utf8.filter { (0x20...0x7E).contains($0) } + crlf
        }
        return out + crlf
    }

    private static let crlf: [UInt8] = [0x0D, 0x0A]
}
