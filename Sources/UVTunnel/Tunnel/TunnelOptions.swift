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
    /// `--max-tunnel-lifetime`: a relaying tunnel is closed after this long.
    public var maxLifetimeMilliseconds: UInt64?
    /// Which HTTP proxy carries the gateway connection (`--egress-proxy`, HTTPS_PROXY, NO_PROXY).
    public var egressProxy: EgressProxy = .direct
    /// `--allow-from`: local clients outside these networks are closed at
    /// accept; empty admits everyone.
    public var allowFrom: [AddressRange] = []

    /// `--allow-from`: may a local client at `peer` use this tunnel? Every
    /// client, when the list is empty; no client whose address is unknown otherwise.
    public func admits(_ peer: SocketAddress?) -> Bool {
        allowFrom.isEmpty || peer.map { peer in allowFrom.contains { $0.contains(peer) } } ?? false
    }

    /// The networks of `--allow-from`, as a refusal's log line names them: "10.0.0.0/8,fd00::/8".
    public var allowFromText: String { allowFrom.map(\.description).joined(separator: ",") }
    /// Spells what the user can change about a failure, as the user wrote
    /// the option (the CLI sets it: a flag, or a config-file key).
    public var hints: FailureHints = { _ in nil }
    /// How the user wrote the options, for messages that name one.
    public var spelling: OptionSpelling = .commandLine

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

extension TunnelOptions {
    /// A failure's log text with its hint, e.g. "timed out after 15.0s in the
    /// TLS handshake with gateway gw:443 (raise --connect-timeout)".
    public func explain(_ failure: TunnelFailure) -> String {
        guard let hint = failure.hint, let text = hints(hint) else { return failure.message }
        return "\(failure.message) (\(text))"
    }
}

/// What a token source can say right away.
public enum TokenAvailability: Equatable {
    /// Use this token (nil: none is known; try without and let the gateway decide).
    case now(String?)
    /// A sign-in is under way; the waiter will be called once.
    case later
    /// No token can be had (e.g. the gateway rejected a service account token).
    case failed(SignInFailure)
}

/// Where tunnels get the token for the CONNECT request. Every call happens on
/// the tunnel loop; a waiter is called at most once, from the loop.
public protocol TokenSource: AnyObject {
    /// The token for a new tunnel.
    func token(waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability
    /// The gateway answered 3xx/401 to `token` (nil: we sent none): forget it,
    /// sign in (once for everyone), and hand the new token to `waiter`.
    func rejected(_ token: String?, waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability
}

/// A token fixed at start (`--service-account`), or none at all: no sign-in.
public final class FixedTokenSource: TokenSource {
    private let value: String?

    public init(token: String?) { value = token }

    public func token(waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability { .now(value) }

    public func rejected(_ token: String?, waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability {
        .failed(value == nil ? SignInFailure("the gateway requires sign-in and none is configured")
                             : SignInFailure("the gateway rejected the service account token", hint: .serviceAccount))
    }
}
