import UVTunnel

/// What the bundled gateway checks and how it answers.
public struct GatewayOptions {
    public enum TokenVerdict: Equatable, Sendable {
        case valid
        case invalid(String)
    }

    /// nil: plain HTTP (for `--pomerium-url http://` tests).
    public var tls: TLSContext?
    /// nil: every request is admitted without a token (`--allow-anonymous`).
    public var verifyToken: ((String) -> TokenVerdict)?
    public var destinations: DestinationPolicy
    /// Answer every CONNECT with this status (tests of the client's handling).
    public var forcedStatus: Int?
    /// Mints a token for the sign-in endpoints; nil: no sign-in offered.
    public var issueToken: (() -> String?)?
    /// `--auto-approve`: the sign-in page redirects at once (scripts, headless browsers).
    public var autoApprove = false
    public var handshakeTimeoutMilliseconds: UInt64 = 10_000
    public var targetConnectTimeoutMilliseconds: UInt64 = 10_000

    public init(tls: TLSContext?, verifyToken: ((String) -> TokenVerdict)?,
                destinations: DestinationPolicy = DestinationPolicy(), forcedStatus: Int? = nil) {
        self.tls = tls
        self.verifyToken = verifyToken
        self.destinations = destinations
        self.forcedStatus = forcedStatus
    }
}
