import UVTunnel

/// Recognises a connect-udp upgrade (RFC 9298 over HTTP/1.1): `GET
/// /.well-known/masque/udp/{host}/{port}/` with `Upgrade: connect-udp`.
enum ConnectUDPPath {
    static let prefix = "/.well-known/masque/udp/"

    /// The target as "host:port" ("[v6]:port"), or nil when `head` is not a
    /// connect-udp request. The host may be percent-encoded (RFC 9298's
    /// template encodes an IPv6 address's colons) or plain, as pomerium-cli sends it.
    static func target(_ head: ConnectRequestHead) -> String? {
        guard head.method == "GET", head.value(of: "Upgrade")?.lowercased() == "connect-udp" else { return nil }
        return target(path: head.target)
    }

    /// As above, from the path alone (HTTP/2's `:path` of an extended
    /// CONNECT with `:protocol connect-udp`): nil when it is not under the
    /// well-known prefix, "" when it is but malformed.
    static func target(path: String) -> String? {
        guard path.hasPrefix(prefix) else { return nil }
        let parts = path.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].isEmpty, !parts[0].isEmpty, !parts[1].isEmpty else { return "" }
        let host = parts[0].replacingOccurrences(of: "%3A", with: ":").replacingOccurrences(of: "%3a", with: ":")
        return host.contains(":") ? "[\(host)]:\(parts[1])" : "\(host):\(parts[1])"
    }
}
