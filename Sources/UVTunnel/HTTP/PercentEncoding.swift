/// Percent-encoding for the sign-in flow's query strings and form bodies
/// (RFC 3986 §2.1, and the WHATWG form-urlencoded rules for "+").
public enum PercentEncoding {
    /// Bounds for `parseQuery`: a callback has one or two parameters and a
    /// JWT is at most 16 KiB, so anything beyond this is junk not worth
    /// decoding. The length bound is per name and per value (encoded), so a
    /// maximum-size token still fits beside its parameter name.
    public static let maxQueryPairs = 100
    public static let maxComponentLength = 16 * 1024

    /// Keeps only RFC 3986 unreserved characters (A–Z a–z 0–9 - . _ ~) and
    /// encodes every other UTF-8 byte as %XX, so the result is safe as a query
    /// name or value: "http://127.0.0.1:1234" → "http%3A%2F%2F127.0.0.1%3A1234".
    public static func encodeQueryComponent(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(contentsOf: PrintableText.hex(byte).utf8)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Undoes %XX (either case of hex), and "+" → space when `plusAsSpace`
    /// (form bodies and query strings). nil when a "%" is not followed by two
    /// hex digits or the bytes are not valid UTF-8: a malformed value is
    /// refused rather than guessed at.
    public static func decode(_ text: some StringProtocol, plusAsSpace: Bool = false) -> String? {
        decode(bytes: Array(text.utf8), plusAsSpace: plusAsSpace)
    }

    static func decode(bytes: some Collection<UInt8>, plusAsSpace: Bool) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(ChunkedBodyDecoder.hexValue),
                      let low = iterator.next().flatMap(ChunkedBodyDecoder.hexValue)
                else { return nil }
                out.append(high << 4 | low)
            } else {
                out.append(plusAsSpace && byte == UInt8(ascii: "+") ? 0x20 : byte)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// "a=b&c=d" (a query string without "?", or a form body) → name/value
    /// pairs in order, both decoded with "+" as space. A piece without "="
    /// has an empty value. Empty pieces, pieces whose name or value is longer
    /// than `maxComponentLength`, and pieces that do not decode are skipped
    /// (treated as absent); after `maxQueryPairs` non-empty pieces the rest is
    /// ignored, so hostile input costs little.
    public static func parseQuery(_ query: Substring) -> [(String, String)] {
        // Scanned as bytes: "&" and "=" are ASCII, and grapheme clustering must
        // not glue a separator to a following combining character.
        var rest = query.utf8[...]
        var pairs: [(String, String)] = []
        var examined = 0
        while !rest.isEmpty, examined < maxQueryPairs {
            let end = rest.firstIndex(of: UInt8(ascii: "&")) ?? rest.endIndex
            let piece = rest[..<end]
            rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
            guard !piece.isEmpty else { continue }
            examined += 1
            let equals = piece.firstIndex(of: UInt8(ascii: "="))
            let name = equals.map { piece[..<$0] } ?? piece
            let value = equals.map { piece[piece.index(after: $0)...] } ?? piece[piece.endIndex...]
            guard name.count <= maxComponentLength, value.count <= maxComponentLength else { continue }
            guard let decodedName = decode(bytes: name, plusAsSpace: true),
                  let decodedValue = decode(bytes: value, plusAsSpace: true)
            else { continue }
            pairs.append((decodedName, decodedValue))
        }
        return pairs
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
