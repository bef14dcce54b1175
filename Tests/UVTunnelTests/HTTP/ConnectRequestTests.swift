import XCTest
@testable import UVTunnel

final class ConnectRequestTests: XCTestCase {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func testWithToken() {
        let bytes = ConnectRequest.encode(authority: "db.corp:5432", userAgent: "uvtunnel/0.1.0",
                                          credential: .pomeriumToken("aaa.bbb.ccc"))
        XCTAssertEqual(text(bytes),
                       "CONNECT db.corp:5432 HTTP/1.1\r\nHost: db.corp:5432\r\nUser-Agent: uvtunnel/0.1.0\r\n"
                       + "Authorization: Pomerium aaa.bbb.ccc\r\n\r\n")
    }

    func testWithoutToken() {
        let bytes = ConnectRequest.encode(authority: "[2001:db8::1]:22", userAgent: "uvtunnel/0.1.0",
                                          credential: nil)
        XCTAssertEqual(bytes, Array("CONNECT [2001:db8::1]:22 HTTP/1.1\r\nHost: [2001:db8::1]:22\r\nUser-Agent: uvtunnel/0.1.0\r\n\r\n".utf8))
    }

    func testEmptyTokenSendsNoAuthorization() {
        let bytes = ConnectRequest.encode(authority: "a:1", userAgent: "uvtunnel/0.1.0",
                                          credential: .pomeriumToken(""))
        XCTAssertEqual(text(bytes), "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nUser-Agent: uvtunnel/0.1.0\r\n\r\n")
    }

    func testUsesVersionConstant() {
        let bytes = ConnectRequest.encode(authority: "a:1", userAgent: "uvtunnel/\(UVTunnelVersion.string)",
                                          credential: nil)
        XCTAssertTrue(text(bytes).contains("\r\nUser-Agent: uvtunnel/\(UVTunnelVersion.string)\r\n"))
    }

    func testCannotInjectHeaders() {
        // A corrupt token file or a bad caller cannot add lines to the request.
        let bytes = ConnectRequest.encode(authority: "a:1\r\nX-Evil: 1", userAgent: "uvtunnel/0.1.0\r\nX-Evil: 3",
                                          credential: .pomeriumToken("t.o.k\r\nX-Evil: 2\n"))
        XCTAssertEqual(text(bytes),
                       "CONNECT a:1X-Evil:1 HTTP/1.1\r\nHost: a:1X-Evil:1\r\nUser-Agent: uvtunnel/0.1.0X-Evil: 3\r\n"
                       + "Authorization: Pomerium t.o.kX-Evil:2\r\n\r\n")
        XCTAssertEqual(bytes.filter { $0 == 0x0A }.count, 5)
    }

    func testRoundTripsThroughTheGatewayParser() throws {
        let bytes = ConnectRequest.encode(authority: "db.corp:5432", userAgent: "uvtunnel/0.1.0",
                                          credential: .pomeriumToken("jwt.x.y"))
        var parser = ConnectRequestParser()
        guard case .complete(let head, let consumed) = try parser.feed(bytes) else {
            return XCTFail("incomplete")
        }
        XCTAssertEqual(consumed, bytes.count)
        XCTAssertEqual(head.method, "CONNECT")
        XCTAssertEqual(head.target, "db.corp:5432")
        XCTAssertEqual(head.value(of: "host"), "db.corp:5432")
        XCTAssertEqual(head.pomeriumToken(), "jwt.x.y")
    }
}
