/// What a CONNECT response status means for the tunnel (SPEC status table).
/// Only `signInRequired` drops the cached token: 403/404/5xx keep it, since the
/// token was fine and the user would otherwise sign in again for nothing.
public enum ConnectOutcome: Equatable, Sendable {
    case open                  // 200: relay
    case signInRequired        // 301 302 307 308 401: sign in, retry once
    case accessDenied          // 403: policy denies
    case routeNotFound         // 404: no such route
    case deviceNotAuthorized   // 450
    case badClientCertificate  // 495
    case gatewayError(Int)     // 5xx
    case unexpected(Int)       // anything else, including other 2xx

    public init(status: Int) {
        switch status {
        case 200: self = .open
        case 301, 302, 307, 308, 401: self = .signInRequired
        case 403: self = .accessDenied
        case 404: self = .routeNotFound
        case 450: self = .deviceNotAuthorized
        case 495: self = .badClientCertificate
        case 500...599: self = .gatewayError(status)
        default: self = .unexpected(status)
        }
    }

    /// One line for the log, e.g. "403 access denied by gateway policy".
    /// `signInRequired` covers five statuses and does not carry which one, so
    /// its message has no number; use `logMessage(status:)` when the status
    /// is at hand (it always is, next to the response head).
    public var logMessage: String {
        switch self {
        case .open: return "200 tunnel open"
        case .signInRequired: return "sign-in required"
        case .accessDenied: return "403 access denied by gateway policy"
        case .routeNotFound: return "404 route not found on the gateway"
        case .deviceNotAuthorized: return "450 device not authorised"
        case .badClientCertificate: return "495 client certificate rejected by the gateway"
        case .gatewayError(let status):
            switch status {
            case 502: return "502 bad gateway"
            case 503: return "503 gateway unavailable"
            case 504: return "504 gateway timed out"
            default: return "\(status) gateway error"
            }
        case .unexpected(let status): return "\(status) unexpected response from the gateway"
        }
    }

    /// Like `logMessage`, always starting with the actual status,
    /// e.g. "302 sign-in required", "401 sign-in required".
    public static func logMessage(status: Int) -> String {
        let outcome = ConnectOutcome(status: status)
        return outcome == .signInRequired ? "\(status) sign-in required" : outcome.logMessage
    }

    /// True only for signInRequired: the gateway rejected the token, so the
    /// cached one is deleted (SPEC: never on network errors, 403, 404, 5xx).
    public var dropsToken: Bool { self == .signInRequired }
}
