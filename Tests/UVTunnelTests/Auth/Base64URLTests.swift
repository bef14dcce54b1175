import XCTest
@testable import UVTunnel

final class Base64URLTests: XCTestCase {
    func testBase64URLKnownVectors() {
        // RFC 4648 §10 test vectors, unpadded.
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64URL.encode(plain), encoded)
            XCTAssertEqual(Base64URL.decode(encoded), Array(plain.utf8))
        }
        XCTAssertEqual(Base64URL.encode([0xFB, 0xFF]), "-_8")
        XCTAssertEqual(Base64URL.decode("-_8"), [0xFB, 0xFF])
    }

    func testBase64URLDecodingIsStrict() {
        for bad in ["Zg==", "Zg=", "Z", "Zh", "Zm9", "Zm+v", "Zm/v", "Zm9v\n", " Zm9v", "Zm 9v", "é"] {
            XCTAssertNil(Base64URL.decode(bad), bad.debugDescription)
        }
    }

    func testBase64URLRoundTripsAllLengths() {
        var bytes: [UInt8] = []
        for length in 0..<70 {
            XCTAssertEqual(Base64URL.decode(Base64URL.encode(bytes)), bytes)
            bytes.append(UInt8(truncatingIfNeeded: length &* 37 &+ 11))
        }
    }
}
