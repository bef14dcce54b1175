import Foundation

/// Why a token was not accepted. The message never contains the token itself:
/// tokens are secrets and errors end up in logs.
public struct JWTError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case malformed
        case badSignature
        case expired
        case unsupportedAlgorithm
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Compact-serialised JWS tokens signed with ES256: what the bundled test
/// gateway issues and checks, and what the client reads `exp` from.
public enum JWT {
    /// Real Pomerium tokens are 1–2 KiB; anything beyond this is refused
    /// before any decoding, so hostile input costs little.
    public static let maximumTokenSize = 16 * 1024

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

    /// The claims of a structurally valid token, without checking the signature
    /// (the client cannot: it has no key). Nil for anything malformed.
    public static func unverifiedClaims(_ token: String) -> TokenClaims? {
        guard let parts = try? split(token),
              (try? decodeHeader(parts.header)) != nil,
              let payload = Base64URL.decode(parts.payload),
              Base64URL.decode(parts.signature) != nil
        else { return nil }
        return try? decodeClaims(payload)
    }

    // MARK: - Parsing

    private struct Parts {
        var header: Substring
        var payload: Substring
        var signature: Substring
        /// "header.payload", the bytes the signature covers.
        var signingInput: [UInt8]
    }

    private struct Header: Decodable {
        var alg: String
        var crit: [String]?
    }

    private static func split(_ token: String) throws(JWTError) -> Parts {
        guard token.utf8.count <= maximumTokenSize else {
            throw JWTError(.malformed, "token is longer than \(maximumTokenSize) bytes")
        }
        let pieces = token.split(separator: ".", omittingEmptySubsequences: false)
        guard pieces.count == 3, !pieces[0].isEmpty, !pieces[1].isEmpty, !pieces[2].isEmpty else {
            throw JWTError(.malformed, "token does not have three non-empty dot-separated parts")
        }
        let signingInput = Array(token.utf8.prefix(pieces[0].utf8.count + 1 + pieces[1].utf8.count))
        return Parts(header: pieces[0], payload: pieces[1], signature: pieces[2], signingInput: signingInput)
    }

    private static func decodeHeader(_ encoded: Substring) throws(JWTError) -> Header {
        guard let json = Base64URL.decode(encoded) else {
            throw JWTError(.malformed, "token header is not base64url")
        }
        do {
            return try JSONDecoder().decode(Header.self, from: Data(json))
        } catch {
            throw JWTError(.malformed, "token header is not a JSON object with a string \"alg\"")
        }
    }

    private static func decodeClaims(_ json: [UInt8]) throws(JWTError) -> TokenClaims {
        do {
            return try JSONDecoder().decode(TokenClaims.self, from: Data(json))
        } catch {
            throw JWTError(.malformed, "token payload is not a JSON object of valid claims")
        }
    }
}
