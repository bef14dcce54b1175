/// What the sign-in thread needs to sign in to one gateway. Only `Sendable`
/// values: it crosses from the tunnel loop to the sign-in thread.
public struct SignInSettings: Sendable {
    public var route: Route
    /// For the login call: https gateways, and redirects to https.
    public var tls: TLSContext
    public var verifyHostName: Bool
    /// `--browser-cmd`, split on spaces; nil means `xdg-open`.
    public var browserCommand: [String]?
    /// False with `--no-browser`: the URL is only printed.
    public var openBrowser: Bool
    /// Where a fresh token is stored (nil: nowhere, e.g. no HOME).
    public var cache: TokenCache?
    public var cacheKey: String
    public var userAgent: String
    public var loginTimeoutMilliseconds: UInt64 = 10_000
    /// The login call and its redirects take the same egress proxy as the tunnels.
    public var egressProxy: EgressProxy = .direct
    /// How messages name options (flags, or config-file keys).
    public var spelling: OptionSpelling = .commandLine

    public init(route: Route, tls: TLSContext, verifyHostName: Bool, browserCommand: [String]?, openBrowser: Bool,
                cache: TokenCache?, userAgent: String = "uvtunnel/\(UVTunnelVersion.string)") {
        self.route = route
        self.tls = tls
        self.verifyHostName = verifyHostName
        self.browserCommand = browserCommand
        self.openBrowser = openBrowser
        self.cache = cache
        cacheKey = TokenCache.key(gatewayAuthority: route.gatewayAuthority, tls: route.useTLS)
        self.userAgent = userAgent
    }
}

/// Why a sign-in did not produce a token; safe to log (never holds the token).
public struct SignInFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    /// What the user can change about it (the CLI spells it).
    public var hint: FailureHint?
    public init(_ message: String, hint: FailureHint? = nil) {
        self.message = message
        self.hint = hint
    }
    public var description: String { message }
}
