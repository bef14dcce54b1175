import Foundation
import UVTunnel

/// The gateway's half of `JWT`: it issues tokens and checks them with its
/// signing key. The client only reads claims (`JWT.unverifiedClaims`), so none
/// of this is in the `uvtunnel` binary.
extension JWT {
    /// The exact header we emit, fixed text so every token we issue is byte-for-byte predictable.
    private static let headerJSON = #"{"alg":"ES256","typ":"JWT"}"#

    /// Signs `claims` into `header.payload.signature`.
    public static func issue(_ claims: TokenClaims, key: SigningKey) throws(CryptoError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let payload: Data
        do {
            payload = try encoder.encode(claims)
        } catch {
            throw CryptoError(operation: "encode JWT claims", detail: String(describing: error))
        }
        let signingInput = Base64URL.encode(headerJSON) + "." + Base64URL.encode(Array(payload))
        let signature = try key.sign(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// Checks structure, algorithm, signature and expiry, in that order, and
    /// returns the claims. Only ES256 is accepted: the algorithm is decided by
    /// us, never by the token (so "none" and HMAC confusion cannot apply).
    public static func verify(_ token: String, key: SigningKey, now: Date = Date()) throws(JWTError) -> TokenClaims {
        let parts = try split(token)
        let header = try decodeHeader(parts.header)
        guard header.alg == "ES256" else {
            // The client chose `alg`, and the gateway logs this message:
            // PrintableText escapes what debugDescription lets through (NEL,
            // U+2028, bidi overrides), so no line break or hidden text gets in.
            throw JWTError(.unsupportedAlgorithm, "token algorithm \(PrintableText.quoted(header.alg, limit: 20)) is not ES256")
        }
        // RFC 7515 §4.1.11: extensions we do not understand must be rejected.
        guard header.crit == nil else {
            throw JWTError(.unsupportedAlgorithm, "token header lists critical extensions, none of which are supported")
        }
        // Every part must be well-formed base64url before the signature is checked,
        // so a mangled token is reported as malformed rather than as forged. The
        // payload's JSON is only parsed once the signature vouches for it.
        guard let payload = Base64URL.decode(parts.payload) else {
            throw JWTError(.malformed, "token payload is not base64url")
        }
        guard let signature = Base64URL.decode(parts.signature) else {
            throw JWTError(.malformed, "token signature is not base64url")
        }
        guard key.verify(signature, of: parts.signingInput) else {
            throw JWTError(.badSignature, "token signature does not verify")
        }
        let claims = try decodeClaims(payload)
        if claims.isExpired(at: now) {
            throw JWTError(.expired, "token expired")
        }
        return claims
    }
}
