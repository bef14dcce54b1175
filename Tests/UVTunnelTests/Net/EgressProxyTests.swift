import XCTest
@testable import UVTunnel

/// Which proxy a gateway connection takes: the flag over the environment,
/// HTTPS_PROXY for TLS gateways and HTTP_PROXY for plain ones, NO_PROXY on
/// top; and how a proxy URL is read and its CONNECT written.
final class EgressProxyTests: XCTestCase {
    private func select(_ environment: [String: String], flag: String? = nil) throws -> EgressProxy {
        try EgressProxy.select(flag: flag, environment: environment)
    }

    func testNothingSetMeansDirect() throws {
        XCTAssertEqual(try select([:]), .direct)
        XCTAssertEqual(try select(["HTTPS_PROXY": "", "NO_PROXY": "x"]).forTLS, nil, "an empty variable is unset")
    }

    func testHTTPSProxyIsForTLSGatewaysAndHTTPProxyForPlainOnes() throws {
        let choice = try select(["HTTPS_PROXY": "http://tls-proxy:3128", "HTTP_PROXY": "http://plain-proxy:8080"])
        XCTAssertEqual(choice.proxy(forHost: "gw.example", port: 443, tls: true)?.authority, "tls-proxy:3128")
        XCTAssertEqual(choice.proxy(forHost: "gw.example", port: 80, tls: false)?.authority, "plain-proxy:8080")
        let onlyHTTPS = try select(["HTTPS_PROXY": "http://tls-proxy:3128"])
        XCTAssertNil(onlyHTTPS.proxy(forHost: "gw.example", port: 80, tls: false))
        XCTAssertEqual(onlyHTTPS.origin, "HTTPS_PROXY")
    }

    func testLowerCaseVariablesWinAsInCurl() throws {
        let choice = try select(["https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2",
                                 "http_proxy": "http://lower:3", "HTTP_PROXY": "http://upper:4"])
        XCTAssertEqual(choice.forTLS?.authority, "lower:1")
        XCTAssertEqual(choice.forPlain?.authority, "lower:3")
        XCTAssertEqual(try select(["HTTPS_PROXY": "http://upper:2"]).forTLS?.authority, "upper:2")
    }

    func testFlagWinsOverTheEnvironmentForBothKinds() throws {
        let choice = try select(["HTTPS_PROXY": "http://env:1", "HTTP_PROXY": "http://env:2"], flag: "http://flag-proxy:3128")
        XCTAssertEqual(choice.proxy(forHost: "gw", port: 443, tls: true)?.authority, "flag-proxy:3128")
        XCTAssertEqual(choice.proxy(forHost: "gw", port: 80, tls: false)?.authority, "flag-proxy:3128")
        XCTAssertEqual(choice.origin, "--egress-proxy")
    }

    func testEmptyFlagMeansDirectEvenWithABrokenEnvironment() throws {
        XCTAssertEqual(try select(["HTTPS_PROXY": "socks5://x:1080"], flag: ""), .direct)
    }

    func testNoProxyExemptsHostsFromEnvironmentAndFlag() throws {
        let environment = ["https_proxy": "http://p:3128", "no_proxy": "127.0.0.1,.corp.example"]
        let choice = try select(environment)
        XCTAssertNil(choice.proxy(forHost: "127.0.0.1", port: 443, tls: true))
        XCTAssertNil(choice.proxy(forHost: "gw.corp.example", port: 443, tls: true))
        XCTAssertNotNil(choice.proxy(forHost: "gw.example", port: 443, tls: true))
        XCTAssertNil(try select(environment, flag: "http://flag:1").proxy(forHost: "127.0.0.1", port: 443, tls: true))
        XCTAssertNil(try select(["HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"]).proxy(forHost: "gw", port: 443, tls: true))
        XCTAssertNil(try select(["HTTPS_PROXY": "http://p:3128", "no_proxy": "*", "NO_PROXY": ""]).proxy(forHost: "gw", port: 443, tls: true))
    }

    func testLoopbackIsProxiedUnlessListed() throws {
        // Unlike Go, and like curl: a loopback gateway is not exempt by itself.
        XCTAssertNotNil(try select(["HTTPS_PROXY": "http://p:3128"]).proxy(forHost: "127.0.0.1", port: 443, tls: true))
    }

    func testUnusableProxyURLsNameTheSourceAndNeverEchoThePassword() {
        let cases: [(String?, [String: String], String)] = [
            ("https://p:3128", [:], "--egress-proxy: https:// proxies"),
            ("socks5://user:hunter2@p:1080", [:], "--egress-proxy: SOCKS proxies are not supported"),
            (nil, ["https_proxy": "socks5h://p:1080"], "https_proxy: SOCKS proxies are not supported"),
            (nil, ["HTTP_PROXY": "ftp://p:21"], "HTTP_PROXY: scheme \"ftp\" is not supported"),
            ("http://p:3128/path", [:], "no path"),
            ("http://p:99999", [:], "is not a number from 1 to 65535"),
            ("http://user:hunter2@", [:], "missing host"),
            ("http://us%0Aer:hunter2@p:1", [:], "the user name is not valid"),
            ("http://p 1:3128", [:], "contains a space"),
        ]
        for (flag, environment, expected) in cases {
            XCTAssertThrowsError(try select(environment, flag: flag), "\(flag ?? "") \(environment)") { error in
                let message = (error as? EgressProxyError)?.message ?? ""
                XCTAssertTrue(message.contains(expected), message)
                XCTAssertFalse(message.contains("hunter2"), message)
            }
        }
        XCTAssertThrowsError(try select(["HTTPS_PROXY": "socks5://p:1"])) { error in
            XCTAssertTrue("\(error)".contains("--egress-proxy \"\""), "says how to ignore the variable: \(error)")
        }
    }

    func testProxyURLForms() throws {
        let full = try ProxyEndpoint.parse("HTTP://Alice:p%40ss%3Aword@Proxy.Corp:3128/", origin: "t")
        XCTAssertEqual(full, ProxyEndpoint(host: "proxy.corp", port: 3128, user: "Alice", password: "p@ss:word"))
        XCTAssertEqual(try ProxyEndpoint.parse("proxy.corp:3128", origin: "t").authority, "proxy.corp:3128", "no scheme means http")
        XCTAssertEqual(try ProxyEndpoint.parse("http://proxy.corp", origin: "t").port, 80)
        XCTAssertEqual(try ProxyEndpoint.parse("http://[::1]:3128", origin: "t").authority, "[::1]:3128")
        let userOnly = try ProxyEndpoint.parse("http://bob@p:1", origin: "t")
        XCTAssertEqual(userOnly.basicAuthorization, "Basic Ym9iOg==")  // "bob:"
        XCTAssertNil(try ProxyEndpoint.parse("http://p:1", origin: "t").basicAuthorization)
    }

    func testProxyConnectRequestBytes() throws {
        let proxy = try ProxyEndpoint.parse("http://user:pass@p:3128", origin: "t")
        let request = ConnectRequest.encode(authority: "[::1]:8443", userAgent: "uvtunnel/1",
                                            credential: proxy.basicAuthorization.map { .proxyAuthorization($0) })
        XCTAssertEqual(String(decoding: request, as: UTF8.self),
                       "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\nUser-Agent: uvtunnel/1\r\n"
                       + "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n")
        let bare = ConnectRequest.encode(authority: "gw:443\r\nX: y", userAgent: "u", credential: nil)
        XCTAssertEqual(String(decoding: bare, as: UTF8.self), "CONNECT gw:443X:y HTTP/1.1\r\nHost: gw:443X:y\r\nUser-Agent: u\r\n\r\n",
                       "no line can be injected")
    }
}
