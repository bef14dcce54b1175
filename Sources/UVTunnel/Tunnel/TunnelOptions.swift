/// Everything a tunnel needs to reach the gateway; built once from the flags.
public struct TunnelOptions {
    public var route: Route
    /// nil when the gateway is plain HTTP (`--pomerium-url http://…`).
    public var tls: TLSContext?
    /// False with `--disable-tls-verification`.
    public var verifyHostName: Bool
    /// Bounds TCP connect + TLS handshake + CONNECT answer (`--connect-timeout`).
    public var connectTimeoutMilliseconds: UInt64
    public var userAgent: String

    public init(route: Route, tls: TLSContext?, verifyHostName: Bool = true,
                connectTimeoutMilliseconds: UInt64 = 15_000,
                userAgent: String = "uvtunnel/\(UVTunnelVersion.string)") {
        self.route = route
        self.tls = tls
        self.verifyHostName = verifyHostName
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.userAgent = userAgent
    }
}

/// Where tunnels get the token for the CONNECT request. The sign-in flow
/// plugs in here; for now tokens come from flags or the cache.
public protocol TokenSource: AnyObject {
    /// The token to send, or nil to send none (the gateway then asks for sign-in).
    func currentToken() -> String?
    /// The gateway rejected `token` (3xx/401): forget it.
    func tokenRejected(_ token: String)
}

/// A token fixed at start (`--service-account`, a cached token, or none).
public final class FixedTokenSource: TokenSource {
    private var token: String?
    /// Called when the gateway rejected the token, e.g. to delete it from the cache.
    private let onRejected: (String) -> Void

    public init(token: String?, onRejected: @escaping (String) -> Void = { _ in }) {
        self.token = token
        self.onRejected = onRejected
    }

    public func currentToken() -> String? { token }

    public func tokenRejected(_ rejected: String) {
        guard rejected == token else { return }
        token = nil
        onRejected(rejected)
    }
}
