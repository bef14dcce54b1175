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

final class ConnectUDPRequestTests: XCTestCase {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func testUpgradeRequest() {
        let bytes = ConnectRequest.encodeConnectUDP(destination: "dns.corp:53", userAgent: "uvtunnel/0.1.0",
                                                    credential: .pomeriumToken("aaa.bbb.ccc"))
        XCTAssertEqual(text(bytes),
                       "GET /.well-known/masque/udp/dns.corp/53/ HTTP/1.1\r\nHost: dns.corp:53\r\n"
                       + "Connection: Upgrade\r\nUpgrade: connect-udp\r\nCapsule-Protocol: ?1\r\n"
                       + "User-Agent: uvtunnel/0.1.0\r\nAuthorization: Pomerium aaa.bbb.ccc\r\n\r\n")
    }

    func testIPv6HostWithoutBracketsInPath() {
        let bytes = ConnectRequest.encodeConnectUDP(destination: "[2001:db8::1]:3389", userAgent: "u", credential: nil)
        XCTAssertEqual(text(bytes),
                       "GET /.well-known/masque/udp/2001:db8::1/3389/ HTTP/1.1\r\nHost: [2001:db8::1]:3389\r\n"
                       + "Connection: Upgrade\r\nUpgrade: connect-udp\r\nCapsule-Protocol: ?1\r\nUser-Agent: u\r\n\r\n")
    }

    /// HTTP/2's `:path` and `:authority` are the upgrade's target and Host, cleaned the same way.
    func testHTTP2PathAndAuthorityMatchTheUpgrade() {
        let v6 = ConnectRequest.connectUDPTarget(destination: "[2001:db8::1]:3389")
        XCTAssertEqual(text(v6.path), "/.well-known/masque/udp/2001:db8::1/3389/")
        XCTAssertEqual(text(v6.authority), "[2001:db8::1]:3389")
        let hostile = ConnectRequest.connectUDPTarget(destination: "a/b\r\nX: y:5/3")
        XCTAssertEqual(text(hostile.path), "/.well-known/masque/udp/abX:y/53/")
    }

    func testNoInjection() {
        let bytes = ConnectRequest.encodeConnectUDP(destination: "a/b\r\nX: y:5/3", userAgent: "u",
                                                    credential: .pomeriumToken("t\r\nEvil: 1"))
        let request = text(bytes)
        XCTAssertTrue(request.hasPrefix("GET /.well-known/masque/udp/abX:y/53/ HTTP/1.1\r\n"), request)
        XCTAssertTrue(request.contains("Authorization: Pomerium tEvil:1\r\n"))
        XCTAssertEqual(request.components(separatedBy: "\r\n").count, 9)
    }
}
