import XCTest
@testable import UVTunnel

final class PercentEncodingTests: XCTestCase {
    private func pairs(_ query: String) -> [String] {
        PercentEncoding.parseQuery(query[...]).map { "\($0.0)=\($0.1)" }
    }

    func testEncodeCallbackURI() {
        XCTAssertEqual(PercentEncoding.encodeQueryComponent("http://127.0.0.1:1234"), "http%3A%2F%2F127.0.0.1%3A1234")
    }

    func testEncodeKeepsOnlyUnreserved() {
        let unreserved = "ABCXYZabcxyz0189-._~"
        XCTAssertEqual(PercentEncoding.encodeQueryComponent(unreserved), unreserved)
        XCTAssertEqual(PercentEncoding.encodeQueryComponent(" !\"#$%&'()*+,/:;=?@[\\]^`{|}"),
                       "%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5C%5D%5E%60%7B%7C%7D")
        XCTAssertEqual(PercentEncoding.encodeQueryComponent("é\u{0}\n"), "%C3%A9%00%0A")
        XCTAssertEqual(PercentEncoding.encodeQueryComponent(""), "")
    }

    func testRoundTrips() {
        var rng = SplitMix(seed: 5)
        let samples = ["", "a.b.c", "x y+z", "100%", "é ü 中文 🚀", "a=b&c=d", "\u{0}\u{7F}\r\n"]
        for text in samples {
            let encoded = PercentEncoding.encodeQueryComponent(text)
            XCTAssertEqual(PercentEncoding.decode(encoded), text)
            XCTAssertEqual(PercentEncoding.decode(encoded, plusAsSpace: true), text, "no + survives encoding")
        }
        for _ in 0..<2_000 {
            var text = ""
            for _ in 0..<Int(rng.next() % 12) {
                let value = UInt32(truncatingIfNeeded: rng.next() % 0x11_0000)
                if let scalar = Unicode.Scalar(value) { text.unicodeScalars.append(scalar) }
            }
            XCTAssertEqual(PercentEncoding.decode(PercentEncoding.encodeQueryComponent(text)), text)
        }
    }

    func testDecode() {
        XCTAssertEqual(PercentEncoding.decode("%41%62c"), "Abc")
        XCTAssertEqual(PercentEncoding.decode("%c3%a9%C3%A9"), "éé")
        XCTAssertEqual(PercentEncoding.decode("a+b"), "a+b")
        XCTAssertEqual(PercentEncoding.decode("a+b", plusAsSpace: true), "a b")
        XCTAssertEqual(PercentEncoding.decode("a%2Bb", plusAsSpace: true), "a+b")
        XCTAssertEqual(PercentEncoding.decode(""), "")
        XCTAssertEqual(PercentEncoding.decode("plain"[...]), "plain")
    }

    func testDecodeMalformed() {
        for text in ["%", "%4", "a%", "%G1", "%1G", "a%zzb", "%%41", "%C3", "%FF", "%C3%28", "%ED%A0%80"] {
            XCTAssertNil(PercentEncoding.decode(text), text)
        }
    }

    func testParseQuery() {
        XCTAssertEqual(pairs("a=b&c=d"), ["a=b", "c=d"])
        XCTAssertEqual(pairs("a=1&&b&=v&"), ["a=1", "b=", "=v"])
        XCTAssertEqual(pairs("x=a%3Db%26c&y=1+2"), ["x=a=b&c", "y=1 2"])
        XCTAssertEqual(pairs("k=v=w"), ["k=v=w"])  // only the first "=" separates
        XCTAssertEqual(pairs("a=%zz&b=2&%FF=3"), ["b=2"])  // undecodable pairs are skipped
        XCTAssertEqual(pairs(""), [])
        XCTAssertEqual(pairs("&&&"), [])
        // A separator followed by a combining mark is still a separator.
        XCTAssertEqual(pairs("a=1&\u{301}b=2"), ["a=1", "\u{301}b=2"])
    }

    func testParseQueryBounds() {
        let many = (0..<150).map { "k\($0)=v" }.joined(separator: "&")
        let parsed = PercentEncoding.parseQuery(many[...])
        XCTAssertEqual(parsed.count, PercentEncoding.maxQueryPairs)
        XCTAssertEqual(parsed.last?.0, "k99")

        // Name and value are bounded separately: a full-size value fits beside its name.
        let limit = PercentEncoding.maxComponentLength
        let fits = "big=" + String(repeating: "x", count: limit)
        XCTAssertEqual(PercentEncoding.parseQuery(fits[...]).first?.1.count, limit)
        XCTAssertEqual(pairs("big=" + String(repeating: "x", count: limit + 1) + "&small=1"), ["small=1"])
        XCTAssertEqual(pairs(String(repeating: "n", count: limit + 1) + "=v&small=1"), ["small=1"])
        XCTAssertEqual(PercentEncoding.parseQuery((String(repeating: "n", count: limit) + "=v")[...]).count, 1)

        // Empty pieces cost nothing and do not count toward the pair limit.
        let sparse = String(repeating: "&", count: 100_000) + "last=1"
        XCTAssertEqual(pairs(sparse), ["last=1"])
    }
}
