import UVTunnel

/// The destination of a CONNECT request as the gateway dials it.
struct ConnectTarget: Equatable, Sendable, CustomStringConvertible {
    var host: String
    var port: UInt16

    /// Strict `host:port` / `[v6]:port` (the same rules as a client ROUTE).
    init?(_ text: String) {
        guard text.utf8.count <= 1024, let parsed = try? HostPort.parse(Substring(text), portRequired: true),
              let port = parsed.port else { return nil }
        host = parsed.host
        self.port = port
    }

    var description: String { host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// True for names and literals that can only mean this machine.
    var isLoopback: Bool {
        let lower = host.lowercased()
        if lower == "localhost" || lower.hasSuffix(".localhost") { return true }
        if let address = try? SocketAddress(ip: host, port: port) { return address.isLoopback }
        return false
    }
}
