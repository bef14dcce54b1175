/// What GatewayDialer is asked to reach, and how.
public struct DialTarget {
    /// Name to resolve (when there is no proxy), to send in the proxy's
    /// CONNECT, and to verify the certificate against; IPv6 without brackets.
    public var host: String
    public var port: UInt16
    /// nil: plain TCP (an http:// gateway or URL).
    public var tls: TLSContext?
    public var verifyHostName: Bool
    /// nil: dial `host` directly.
    public var proxy: ProxyEndpoint?
    public var userAgent: String
    /// How messages name the far end: "gateway" for tunnels, "host" for a URL.
    public var role: String

    public init(host: String, port: UInt16, tls: TLSContext?, verifyHostName: Bool, proxy: ProxyEndpoint?,
                userAgent: String, role: String = "gateway") {
        self.host = host
        self.port = port
        self.tls = tls
        self.verifyHostName = verifyHostName
        self.proxy = proxy
        self.userAgent = userAgent
        self.role = role
    }

    /// "host:port" with brackets for IPv6, as sent in CONNECT and shown in messages.
    public var authority: String { "\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// "gateway gw:443", or with the proxy: "gateway gw:443 (through egress proxy p:3128)".
    var namedWithRoute: String {
        "\(role) \(authority)" + (proxy.map { " (through egress proxy \($0.authority))" } ?? "")
    }
}
