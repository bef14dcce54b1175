/// The one request uvtunnel sends per tunnel (SPEC "Wire protocol"):
///
///     CONNECT host:port HTTP/1.1\r\n
///     Host: host:port\r\n
///     User-Agent: uvtunnel/<version>\r\n
///     Authorization: Pomerium <jwt>\r\n      (only when a token is known)
///     \r\n
public enum ConnectRequest {
    /// `destination` comes from Route.parse (already validated) and `token`
    /// from a file or a browser redirect. As defence in depth, bytes that could
    /// end a line or split a field are dropped here too (a JWT never has them),
    /// so a corrupt token file can never inject a header. An empty token sends
    /// no Authorization line.
    public static func encode(destination: String, token: String?, userAgent: String) -> [UInt8] {
        let target = visible(destination)
        var out: [UInt8] = []
        out.reserveCapacity(96 + 2 * target.count + (token?.utf8.count ?? 0))
        out += Array("CONNECT ".utf8) + target + Array(" HTTP/1.1\r\n".utf8)
        out += Array("Host: ".utf8) + target + crlf
        out += Array("User-Agent: ".utf8) + printable(userAgent) + crlf
        if let token {
            let jwt = visible(token)
            if !jwt.isEmpty {
                out += Array("Authorization: Pomerium ".utf8) + jwt + crlf
            }
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
