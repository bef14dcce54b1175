import XCTest
@testable import UVTunnel
@testable import UVTunnelGateway

/// Which requests the gateway takes for connect-udp, and the target it reads from the path.
final class ConnectUDPPathTests: XCTestCase {
    private func head(_ target: String, method: String = "GET", upgrade: String? = "connect-udp") -> ConnectRequestHead {
        ConnectRequestHead(method: method, target: target, version: "HTTP/1.1",
                           headers: upgrade.map { [HTTPHeader(name: "Upgrade", value: $0)] } ?? [])
    }

    func testTargets() {
        XCTAssertEqual(ConnectUDPPath.target(head("/.well-known/masque/udp/dns.corp/53/")), "dns.corp:53")
        XCTAssertEqual(ConnectUDPPath.target(head("/.well-known/masque/udp/2001:db8::1/53/")), "[2001:db8::1]:53")
        XCTAssertEqual(ConnectUDPPath.target(head("/.well-known/masque/udp/2001%3Adb8%3A%3A1/53/")), "[2001:db8::1]:53")
        XCTAssertEqual(ConnectUDPPath.target(head("/.well-known/masque/udp/a/53/", upgrade: "Connect-UDP")), "a:53")
    }

    func testNotConnectUDP() {
        XCTAssertNil(ConnectUDPPath.target(head("/.well-known/masque/udp/a/53/", method: "CONNECT")))
        XCTAssertNil(ConnectUDPPath.target(head("/.well-known/masque/udp/a/53/", upgrade: nil)))
        XCTAssertNil(ConnectUDPPath.target(head("/.well-known/masque/udp/a/53/", upgrade: "websocket")))
        XCTAssertNil(ConnectUDPPath.target(head("/.pomerium/api/v1/login")))
    }

    /// HTTP/2's extended CONNECT has no Upgrade header: the `:path` alone says.
    func testTargetFromAnHTTP2Path() {
        XCTAssertEqual(ConnectUDPPath.target(path: "/.well-known/masque/udp/dns.corp/53/"), "dns.corp:53")
        XCTAssertEqual(ConnectUDPPath.target(path: "/.well-known/masque/udp/2001%3Adb8%3A%3A1/53/"), "[2001:db8::1]:53")
        XCTAssertEqual(ConnectUDPPath.target(path: "/.well-known/masque/udp/a/53"), "")
        XCTAssertNil(ConnectUDPPath.target(path: "/other/a/53/"))
    }

    /// A connect-udp request whose path is not host/port/ is a bad target (400), never another route.
    func testMalformedPathIsAnEmptyTarget() {
        for path in ["/.well-known/masque/udp/a/53", "/.well-known/masque/udp/a//", "/.well-known/masque/udp//53/",
                     "/.well-known/masque/udp/a/53/x/"] {
            XCTAssertEqual(ConnectUDPPath.target(head(path)), "", path)
        }
    }
}
