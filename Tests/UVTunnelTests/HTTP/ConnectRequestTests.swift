import XCTest
@testable import UVTunnel

final class ConnectRequestTests: XCTestCase {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func testWithToken() {
        let bytes = ConnectRequest.encode(destination: "db.corp:5432", token: "aaa.bbb.ccc",
                                          userAgent: "uvtunnel/0.1.0")
        XCTAssertEqual(text(bytes),
                       "CONNECT db.corp:5432 HTTP/1.1\r\nHost: db.corp:5432\r\nUser-Agent: uvtunnel/0.1.0\r\n"
                       + "Authorization: Pomerium aaa.bbb.ccc\r\n\r\n")
    }

    func testWithoutToken() {
        let bytes = ConnectRequest.encode(destination: "[2001:db8::1]:22", token: nil, userAgent: "uvtunnel/0.1.0")
        XCTAssertEqual(bytes, Array("CONNECT [2001:db8::1]:22 HTTP/1.1\r\nHost: [2001:db8::1]:22\r\nUser-Agent: uvtunnel/0.1.0\r\n\r\n".utf8))
    }

    func testEmptyTokenSendsNoAuthorization() {
        let bytes = ConnectRequest.encode(destination: "a:1", token: "", userAgent: "uvtunnel/0.1.0")
        XCTAssertEqual(text(bytes), "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nUser-Agent: uvtunnel/0.1.0\r\n\r\n")
    }

    func testUsesVersionConstant() {
        let bytes = ConnectRequest.encode(destination: "a:1", token: nil,
                                          userAgent: "uvtunnel/\(UVTunnelVersion.string)")
        XCTAssertTrue(text(bytes).contains("\r\nUser-Agent: uvtunnel/\(UVTunnelVersion.string)\r\n"))
    }

    func testCannotInjectHeaders() {
        // A corrupt token file or a bad caller cannot add lines to the request.
        let bytes = ConnectRequest.encode(destination: "a:1\r\nX-Evil: 1", token: "t.o.k\r\nX-Evil: 2\n",
                                          userAgent: "uvtunnel/0.1.0\r\nX-Evil: 3")
        XCTAssertEqual(text(bytes),
                       "CONNECT a:1X-Evil:1 HTTP/1.1\r\nHost: a:1X-Evil:1\r\nUser-Agent: uvtunnel/0.1.0X-Evil: 3\r\n"
                       + "Authorization: Pomerium t.o.kX-Evil:2\r\n\r\n")
        XCTAssertEqual(bytes.filter { $0 == 0x0A }.count, 5)
    }

    func testRoundTripsThroughTheGatewayParser() throws {
        let bytes = ConnectRequest.encode(destination: "db.corp:5432", token: "jwt.x.y", userAgent: "uvtunnel/0.1.0")
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
