import XCTest
@testable import UVTunnelGateway

final class H2ResponseTranslationTests: XCTestCase {
    func testStatusHeadersAndBodyWithoutConnectionFields() throws {
        let raw = Array("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/cb?x=1\r\nContent-Length: 0\r\nConnection: close\r\nKeep-Alive: 5\r\n\r\n".utf8)
        let translated = try XCTUnwrap(H2ResponseTranslation(raw))
        XCTAssertEqual(translated.status, 302)
        XCTAssertEqual(translated.headers.map { "\($0.0)=\($0.1)" }, ["location=http://127.0.0.1:1/cb?x=1", "content-length=0"])
        XCTAssertEqual(translated.body, [])
    }

    func testBodyIsKeptByteForByte() throws {
        let raw = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nline one\r\n\r\nline two".utf8)
        let translated = try XCTUnwrap(H2ResponseTranslation(raw))
        XCTAssertEqual(String(decoding: translated.body, as: UTF8.self), "line one\r\n\r\nline two")
        XCTAssertEqual(translated.headers.first?.0, "content-type")
    }

    func testIncompleteOrForeignHeadsAreRefused() {
        XCTAssertNil(H2ResponseTranslation(Array("HTTP/1.1 200 OK\r\n".utf8)))
        XCTAssertNil(H2ResponseTranslation(Array("SPDY/3 200 OK\r\n\r\n".utf8)))
        XCTAssertNil(H2ResponseTranslation(Array("HTTP/1.1 abc OK\r\n\r\n".utf8)))
    }
}
