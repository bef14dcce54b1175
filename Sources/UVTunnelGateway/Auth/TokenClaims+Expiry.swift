import Foundation
import UVTunnel

/// The gateway judges expiry when it verifies a token; the client reads `exp`
/// only to know when to sign in again, so this lives with the gateway.
extension TokenClaims {
    /// True when the token has an `exp` and `date` is at or past it.
    /// A positive `leeway` tolerates clock skew (the token counts as valid for
    /// that many seconds past `exp`); a negative one treats a token as expired
    /// that long before `exp`, so it is not sent just as it runs out.
    public func isExpired(at date: Date, leeway: TimeInterval = 0) -> Bool {
        guard let exp else { return false }
        return date.timeIntervalSince1970 - leeway >= Double(exp)
    }
}
