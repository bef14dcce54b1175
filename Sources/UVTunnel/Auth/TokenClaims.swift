import Foundation

/// The registered JWT claims uvtunnel reads (RFC 7519 §4.1). Other claims in a
/// token are ignored, since Pomerium puts plenty of its own there.
public struct TokenClaims: Codable, Sendable, Equatable {
    public var iss: String?
    public var sub: String?
    /// A single audience. A JSON array of audiences decodes to its first entry:
    /// the client only displays it, and never makes an audience decision.
    public var aud: String?
    /// Expiry, in seconds since 1970 (a NumericDate; fractions are floored).
    public var exp: Int64?
    /// Issued-at, in seconds since 1970.
    public var iat: Int64?

    public init(iss: String? = nil, sub: String? = nil, aud: String? = nil, exp: Int64? = nil, iat: Int64? = nil) {
        self.iss = iss
        self.sub = sub
        self.aud = aud
        self.exp = exp
        self.iat = iat
    }

    private enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, iat
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        iss = try container.decodeIfPresent(String.self, forKey: .iss)
        sub = try container.decodeIfPresent(String.self, forKey: .sub)
        aud = try TokenClaims.decodeAudience(container)
        exp = try TokenClaims.decodeNumericDate(container, .exp)
        iat = try TokenClaims.decodeNumericDate(container, .iat)
    }

    private static func decodeAudience(_ container: KeyedDecodingContainer<CodingKeys>) throws -> String? {
        if let single = try? container.decodeIfPresent(String.self, forKey: .aud) { return single }
        return try container.decodeIfPresent([String].self, forKey: .aud)?.first
    }

    /// NumericDate is "a JSON numeric value", so 1700000000.5 is legal; values
    /// that do not fit a whole number of seconds in Int64 range are malformed
    /// (converting them unchecked would trap).
    private static func decodeNumericDate(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int64? {
        guard container.contains(key), try !container.decodeNil(forKey: key) else { return nil }
        if let whole = try? container.decode(Int64.self, forKey: key) { return whole }
        let value = try container.decode(Double.self, forKey: key)
        // ±2^62 leaves room for Double rounding and is far beyond any real date.
        guard value.isFinite, abs(value) < 4.6e18, let seconds = Int64(exactly: value.rounded(.down)) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\(key.rawValue) is not a usable NumericDate")
        }
        return seconds
    }
}
