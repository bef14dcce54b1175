import FuzzSupport
import UVTunnel

/// PercentEncoding.parseQuery and decode: the callback's query string and
/// form body, where the token arrives. Input: [unused:2][query bytes].
FuzzMain.run(fuzzQuery)

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzQuery(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: FuzzInput(data, size).bytes, as: UTF8.self)
    let pairs = PercentEncoding.parseQuery(text[...])
    Fuzz.check(pairs.count <= PercentEncoding.maxQueryPairs, "\(pairs.count) pairs")

    // Encoded again and joined, the pairs parse back to themselves (when the
    // encoded pieces stay within the length bound the parser applies).
    let encoded = pairs.map { (PercentEncoding.encodeQueryComponent($0.0), PercentEncoding.encodeQueryComponent($0.1)) }
    if encoded.allSatisfy({ $0.0.utf8.count <= PercentEncoding.maxComponentLength && $0.1.utf8.count <= PercentEncoding.maxComponentLength }) {
        let query = encoded.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        Fuzz.check(Fuzz.isVisibleASCII(query) || query.isEmpty, "encoded query is not visible ASCII")
        let again = PercentEncoding.parseQuery(query[...])
        Fuzz.check(again.count == pairs.count && zip(again, pairs).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 },
                   "parseQuery(encode(pairs)) differs")
    }
    // Any text survives encode then decode, with or without "+" as space.
    Fuzz.equal(PercentEncoding.decode(PercentEncoding.encodeQueryComponent(text)), text, "decode(encode(text))")
    Fuzz.equal(PercentEncoding.decode(PercentEncoding.encodeQueryComponent(text), plusAsSpace: true), text, "form decode(encode(text))")
    _ = PercentEncoding.decode(text)
    return 0
}
