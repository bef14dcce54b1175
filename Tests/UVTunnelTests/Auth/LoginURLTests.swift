import XCTest
@testable import UVTunnel

final class LoginURLTests: XCTestCase {
    private let suffix = "/.pomerium/api/v1/login?pomerium_redirect_uri=http%3A%2F%2F127.0.0.1%3A4321"

    private func login(_ route: String, _ pomeriumURL: String? = nil) throws -> String {
        LoginURL.make(route: try Route.parse(route, pomeriumURL: pomeriumURL), callbackPort: 4321).description
    }

    func testHTTPSDefaultPortStripped() throws {
        XCTAssertEqual(try login("db.corp:5432"), "https://db.corp" + suffix)
        XCTAssertEqual(try login("db:5432", "https://gw.example:443"), "https://gw.example" + suffix)
        let url = LoginURL.make(route: Route(destination: "db:1", gatewayHost: "gw.example", gatewayPort: 443, useTLS: true),
                                callbackPort: 4321)
        XCTAssertEqual(url.authority, "gw.example:443")  // still dialled on 443
        XCTAssertFalse(url.hasExplicitPort)
        XCTAssertEqual(url.pathAndQuery, suffix)
    }

    func testNonDefaultPortKept() throws {
        XCTAssertEqual(try login("https://gw.example:8443/db:5432"), "https://gw.example:8443" + suffix)
        XCTAssertEqual(try login("db:5432", "http://gw.example:8080"), "http://gw.example:8080" + suffix)
        // Each scheme's default only: https on 80 and http on 443 keep their port.
        XCTAssertEqual(try login("db:5432", "https://gw.example:80"), "https://gw.example:80" + suffix)
        XCTAssertEqual(try login("db:5432", "http://gw.example:443"), "http://gw.example:443" + suffix)
    }

    func testHTTPDefaultPortStripped() throws {
        XCTAssertEqual(try login("db:5432", "http://gw.example"), "http://gw.example" + suffix)
        XCTAssertEqual(try login("db:5432", "http://gw.example:80"), "http://gw.example" + suffix)
    }

    func testIPv6Gateway() throws {
        XCTAssertEqual(try login("[2001:db8::1]:22"), "https://[2001:db8::1]" + suffix)
        XCTAssertEqual(try login("db:5432", "https://[::1]:8443"), "https://[::1]:8443" + suffix)
    }

    func testCallbackPortAndRoundTrip() throws {
        let route = try Route.parse("db:5432", pomeriumURL: "https://gw.example")
        let url = LoginURL.make(route: route, callbackPort: 65535)
        XCTAssertEqual(try HTTPURL.parse(url.description), url)
        let query = url.pathAndQuery.split(separator: "?", maxSplits: 1)[1]
        let pairs = PercentEncoding.parseQuery(query)
        XCTAssertEqual(pairs.count, 1)
        XCTAssertEqual(pairs.first?.0, "pomerium_redirect_uri")
        XCTAssertEqual(pairs.first?.1, "http://127.0.0.1:65535")
        XCTAssertEqual(LoginURL.callbackURI(port: 1), "http://127.0.0.1:1")
    }
}
