/// A cheap shape check for a token arriving from outside (the browser
/// callback): compact JWS is three non-empty base64url parts joined by ".".
/// It decides only whether to accept the text as a token, not whether the
/// token is valid; the gateway judges that. Bounded by JWT.maximumTokenSize.
enum CompactJWTShape {
    static func isPlausible(_ token: String) -> Bool {
        let bytes = token.utf8
        guard !bytes.isEmpty, bytes.count <= JWT.maximumTokenSize,
              bytes.allSatisfy(isTokenByte)
        else { return false }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { !$0.isEmpty }
    }

    /// base64url alphabet plus the "." separator.
    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }
}
