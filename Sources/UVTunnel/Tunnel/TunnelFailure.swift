/// Why a tunnel ended other than by both sides finishing: the stage and the
/// cause, so a log line can say it well, the metrics can count it by class,
/// and the CLI can add what the user can do about it (`hint`), naming the
/// flag or the config key the user actually wrote. The library's own text
/// names no flag.
public enum TunnelFailure: Error, Equatable, Sendable {
    /// Reaching the gateway failed: DNS, TCP, egress proxy, TLS, certificate.
    case dial(DialFailure)
    /// The connect timeout ran out; `activity` says what was going on
    /// ("in the TLS handshake with gateway gw:443").
    case timedOut(stage: ConnectStage, milliseconds: UInt64, activity: String)
    /// The gateway answered CONNECT with something other than 200.
    case answered(status: Int)
    /// 3xx/401 again, with the token a fresh sign-in had just produced.
    case rejectedAfterSignIn(status: Int)
    /// The CONNECT exchange with the gateway broke: an answer that is not
    /// HTTP, the gateway hanging up first, or an I/O error.
    case exchange(ConnectClient.Failure)
    /// No token could be had: the sign-in failed or timed out, or the gateway
    /// wants one and none is configured.
    case signIn(SignInFailure)
    /// `--multiplex`: the gateway reset this tunnel's HTTP/2 stream before it
    /// opened, or the shared connection under it broke.
    case http2(HTTP2Failure)
    /// An I/O error on one side while relaying.
    case relay(side: RelaySide, message: String)
    /// The tunnel reached its maximum lifetime.
    case lifetimeReached(milliseconds: UInt64)
    /// A recheck found the gateway no longer admits the token for the route.
    case revoked(String)
    /// The process is stopping: `drained` when the tunnel was relaying and
    /// used up the drain time, false when it closed before it opened.
    case shutdown(drained: Bool)
    /// A second SIGINT/SIGTERM ended the drain before the tunnel finished.
    case shutdownCutShort

    public enum RelaySide: String, Sendable { case local, gateway }

    /// The gateway said no (or no token could be had): logged as "refused",
    /// not "failed", since retrying without changing something is pointless.
    public var isRefusal: Bool {
        switch self {
        case .answered, .rejectedAfterSignIn, .signIn: return true
        default: return false
        }
    }

    /// The one line for the log, without hints.
    public var message: String {
        switch self {
        case .dial(let failure): return failure.description
        case .timedOut(_, let milliseconds, let activity):
            return "timed out after \((Double(milliseconds) / 1000).formatted1)s \(activity)"
        // A 200 fails only a connect-udp upgrade, which wants 101.
        case .answered(200): return "200 unexpected response from the gateway (connect-udp needs 101 Switching Protocols)"
        case .answered(let status): return ConnectOutcome.logMessage(status: status)
        case .rejectedAfterSignIn(let status):
            return "\(ConnectOutcome.logMessage(status: status)); the gateway rejected the token from a fresh sign-in too"
        case .exchange(let failure): return failure.description
        case .http2(let failure): return failure.description
        case .signIn(let failure): return failure.message
        case .relay(let side, let message): return side == .local ? "local client: \(message)" : message
        case .lifetimeReached(let milliseconds): return "closed after \((Double(milliseconds) / 1000).formatted1)s, its maximum lifetime"
        case .revoked(let reason): return reason
        case .shutdown(let drained): return drained ? "closed at shutdown after the drain time" : "closed at shutdown before the tunnel opened"
        case .shutdownCutShort: return "closed at shutdown by a second signal during the drain"
        }
    }

    /// What the user may change, for the CLI to spell as a flag or config key.
    public var hint: FailureHint? {
        switch self {
        case .dial(.certificate): return .trustCA
        case .timedOut: return .connectTimeout
        case .signIn(let failure): return failure.hint
        case .lifetimeReached: return .maxLifetime
        case .shutdown(drained: true): return .drainTimeout
        default: return nil
        }
    }

    /// The `outcome` label of `uvtunnel_tunnels_total` (README lists the set).
    public var metricClass: String {
        switch self {
        case .dial(.resolve): return "resolve"
        case .dial(.connect): return "connect"
        case .dial(.proxyRefused), .dial(.proxyExchange): return "egress_proxy"
        case .dial(.tlsHandshake): return "tls_handshake"
        case .dial(.certificate): return "tls_verify"
        case .timedOut: return "timeout"
        case .answered(let status):
            switch ConnectOutcome(status: status) {
            case .accessDenied: return "denied"
            case .routeNotFound: return "not_found"
            case .deviceNotAuthorized: return "device_denied"
            case .badClientCertificate: return "client_certificate"
            case .gatewayError: return "gateway_error"
            case .signInRequired: return "sign_in"
            case .open, .unexpected: return "unexpected_status"
            }
        case .rejectedAfterSignIn, .signIn: return "sign_in"
        case .exchange: return "bad_answer"
        case .http2(.reset): return "stream_reset"
        case .http2(.connectionLost): return "gateway_io"
        case .http2(.takesNoStreams), .http2(.headersTooLarge): return "gateway_error"
        case .http2(.connectionLimit): return "connect"
        case .relay(.local, _): return "local_io"
        case .relay(.gateway, _): return "gateway_io"
        case .lifetimeReached: return "lifetime"
        case .revoked: return "revoked"
        case .shutdown, .shutdownCutShort: return "shutdown"
        }
    }

    /// Every `metricClass`, plus "completed": the metrics show each from the start.
    public static let metricClasses = [
        "completed", "resolve", "connect", "egress_proxy", "tls_handshake", "tls_verify", "timeout",
        "denied", "not_found", "device_denied", "client_certificate", "gateway_error", "unexpected_status",
        "sign_in", "bad_answer", "stream_reset", "local_io", "gateway_io", "lifetime", "revoked", "shutdown",
    ]
}

/// Something the user can change to avoid a failure. The library says which;
/// the CLI says how, as the user wrote the option (`--connect-timeout`, or
/// `connect-timeout` in the config file).
public enum FailureHint: String, Sendable, CaseIterable {
    /// Trust the gateway's CA (or, for testing, turn verification off).
    case trustCA
    case connectTimeout
    case maxLifetime
    case drainTimeout
    case authTimeout
    /// The service account token was rejected.
    case serviceAccount
}

/// Spells a hint for the user; the CLI installs one per route.
public typealias FailureHints = @Sendable (FailureHint) -> String?
