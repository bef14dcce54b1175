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

/// Compact-serialised JWS tokens signed with ES256: what the client reads `exp`
/// from. Issuing and verifying them is the bundled gateway's job (UVTunnelGateway).
public enum JWT {
    /// Real Pomerium tokens are 1–2 KiB; anything beyond this is refused
    /// before any decoding, so hostile input costs little.
    public static let maximumTokenSize = 16 * 1024

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

    package struct Parts {
        package var header: Substring
        package var payload: Substring
        package var signature: Substring
        /// "header.payload", the bytes the signature covers.
        package var signingInput: [UInt8]
    }

    package struct Header: Decodable {
        package var alg: String
        package var crit: [String]?
    }

    package static func split(_ token: String) throws(JWTError) -> Parts {
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

    package static func decodeHeader(_ encoded: Substring) throws(JWTError) -> Header {
        guard let json = Base64URL.decode(encoded) else {
            throw JWTError(.malformed, "token header is not base64url")
        }
        do {
            return try JSONDecoder().decode(Header.self, from: Data(json))
        } catch {
            throw JWTError(.malformed, "token header is not a JSON object with a string \"alg\"")
        }
    }

    package static func decodeClaims(_ json: [UInt8]) throws(JWTError) -> TokenClaims {
        do {
            return try JSONDecoder().decode(TokenClaims.self, from: Data(json))
        } catch {
            throw JWTError(.malformed, "token payload is not a JSON object of valid claims")
        }
    }
}
