import XCTest
@testable import UVTunnel

final class RouteTests: XCTestCase {
    private func route(_ text: String, _ pomeriumURL: String? = nil,
                       file: StaticString = #filePath, line: UInt = #line) -> Route? {
        do {
            return try Route.parse(text, pomeriumURL: pomeriumURL)
        } catch {
            XCTFail("unexpected error: \(error.message)", file: file, line: line)
            return nil
        }
    }

    /// The error message, or nil (and a failure) when parsing succeeded.
    private func error(_ text: String, _ pomeriumURL: String? = nil,
                       file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            let r = try Route.parse(text, pomeriumURL: pomeriumURL)
            XCTFail("expected an error, got \(r)", file: file, line: line)
            return nil
        } catch {
            XCTAssertFalse(error.message.contains("\n"), file: file, line: line)
            return error.message
        }
    }

    private func assertRoute(_ text: String, _ pomeriumURL: String? = nil,
                             destination: String, host: String, port: UInt16, tls: Bool,
                             authority: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        guard let r = route(text, pomeriumURL, file: file, line: line) else { return }
        XCTAssertEqual(r.destination, destination, "destination", file: file, line: line)
        XCTAssertEqual(r.gatewayHost, host, "gatewayHost", file: file, line: line)
        XCTAssertEqual(r.gatewayPort, port, "gatewayPort", file: file, line: line)
        XCTAssertEqual(r.useTLS, tls, "useTLS", file: file, line: line)
        XCTAssertEqual(r.gatewayAuthority, authority, "gatewayAuthority", file: file, line: line)
    }

    // MARK: - SPEC row 1: host:port

    func testHostPort() {
        assertRoute("db.corp:5432", destination: "db.corp:5432", host: "db.corp", port: 443, tls: true,
                    authority: "db.corp:443")
        assertRoute("redis.example.com:6379", destination: "redis.example.com:6379",
                    host: "redis.example.com", port: 443, tls: true, authority: "redis.example.com:443")
        assertRoute("10.0.0.5:22", destination: "10.0.0.5:22", host: "10.0.0.5", port: 443, tls: true,
                    authority: "10.0.0.5:443")
    }

    func testHostPortIPv6() {
        let r = route("[2001:db8::1]:22")
        XCTAssertEqual(r, Route(destination: "[2001:db8::1]:22", gatewayHost: "2001:db8::1",
                                gatewayPort: 443, useTLS: true))
        XCTAssertEqual(r?.gatewayHostForURL, "[2001:db8::1]")
        XCTAssertEqual(r?.gatewayAuthority, "[2001:db8::1]:443")
        assertRoute("[::1]:22", destination: "[::1]:22", host: "::1", port: 443, tls: true, authority: "[::1]:443")
        assertRoute("[::ffff:192.0.2.1]:80", destination: "[::ffff:192.0.2.1]:80", host: "::ffff:192.0.2.1",
                    port: 443, tls: true, authority: "[::ffff:192.0.2.1]:443")
    }

    func testPortIsNormalised() {
        XCTAssertEqual(route("db.corp:05432")?.destination, "db.corp:5432")
        XCTAssertEqual(route("db.corp:65535")?.destination, "db.corp:65535")
        XCTAssertEqual(route("db.corp:1")?.destination, "db.corp:1")
    }

    func testHostNameIsKeptAsTyped() {
        XCTAssertEqual(route("DB_01.Corp:5432")?.destination, "DB_01.Corp:5432")
    }

    // MARK: - SPEC row 2: scheme://host:port, no path

    func testTCPPlusHTTPSURL() {
        // The URL's port is the destination's; the gateway is the host on 443.
        assertRoute("tcp+https://redis.example.com:6379", destination: "redis.example.com:6379",
                    host: "redis.example.com", port: 443, tls: true, authority: "redis.example.com:443")
    }

    func testHTTPSURL() {
        assertRoute("https://db.corp:5432", destination: "db.corp:5432", host: "db.corp", port: 443, tls: true,
                    authority: "db.corp:443")
    }

    func testTrailingSlashCountsAsNoPath() {
        assertRoute("tcp+https://db.corp:5432/", destination: "db.corp:5432", host: "db.corp", port: 443,
                    tls: true, authority: "db.corp:443")
    }

    func testHTTPURLIsPlainOnPort80() {
        // As pomerium-cli: http://host:port → http://host:80.
        assertRoute("http://redis.example.com:6379", destination: "redis.example.com:6379",
                    host: "redis.example.com", port: 80, tls: false, authority: "redis.example.com:80")
        assertRoute("tcp+http://redis.example.com:6379", destination: "redis.example.com:6379",
                    host: "redis.example.com", port: 80, tls: false, authority: "redis.example.com:80")
    }

    func testOtherSchemesUseTLSOn443() {
        for scheme in ["tcp", "ssh", "rdp", "tcp+ssh", "TCP+HTTPS", "HTTPS"] {
            assertRoute("\(scheme)://host.example:3389", destination: "host.example:3389",
                        host: "host.example", port: 443, tls: true, authority: "host.example:443")
        }
    }

    func testURLFormIPv6() {
        assertRoute("tcp+https://[fd00::1]:22", destination: "[fd00::1]:22", host: "fd00::1", port: 443,
                    tls: true, authority: "[fd00::1]:443")
    }

    // MARK: - SPEC row 3: URL with a path

    func testURLWithPathAndGatewayPort() {
        assertRoute("https://gw.example:8443/db.corp:5432", destination: "db.corp:5432",
                    host: "gw.example", port: 8443, tls: true, authority: "gw.example:8443")
    }

    func testURLWithPathDefaultPorts() {
        assertRoute("https://proxy.example.com/redis.example.com:6379", destination: "redis.example.com:6379",
                    host: "proxy.example.com", port: 443, tls: true, authority: "proxy.example.com:443")
        assertRoute("http://proxy.example.com/redis.example.com:6379", destination: "redis.example.com:6379",
                    host: "proxy.example.com", port: 80, tls: false, authority: "proxy.example.com:80")
        assertRoute("http://proxy.example.com:8080/redis.example.com:6379", destination: "redis.example.com:6379",
                    host: "proxy.example.com", port: 8080, tls: false, authority: "proxy.example.com:8080")
        assertRoute("tcp+https://proxy.example.com/db:1/", destination: "db:1",
                    host: "proxy.example.com", port: 443, tls: true, authority: "proxy.example.com:443")
    }

    func testURLWithPathIPv6Everywhere() {
        let r = route("https://[::1]:8443/[fd00::1]:22")
        XCTAssertEqual(r, Route(destination: "[fd00::1]:22", gatewayHost: "::1", gatewayPort: 8443, useTLS: true))
        XCTAssertEqual(r?.gatewayAuthority, "[::1]:8443")
        XCTAssertEqual(r?.gatewayHostForURL, "[::1]")
        assertRoute("https://[2001:db8::2]/db.corp:5432", destination: "db.corp:5432", host: "2001:db8::2",
                    port: 443, tls: true, authority: "[2001:db8::2]:443")
    }

    // MARK: - SPEC row 4: --pomerium-url

    func testPomeriumURLHTTPS() {
        assertRoute("redis.example.com:6379", "https://proxy.example.com", destination: "redis.example.com:6379",
                    host: "proxy.example.com", port: 443, tls: true, authority: "proxy.example.com:443")
        assertRoute("db.corp:5432", "https://gw.example:8443/", destination: "db.corp:5432",
                    host: "gw.example", port: 8443, tls: true, authority: "gw.example:8443")
    }

    func testPomeriumURLHTTPIsPlain() {
        assertRoute("db.corp:5432", "http://gw.example", destination: "db.corp:5432",
                    host: "gw.example", port: 80, tls: false, authority: "gw.example:80")
        assertRoute("db.corp:5432", "HTTP://127.0.0.1:8080", destination: "db.corp:5432",
                    host: "127.0.0.1", port: 8080, tls: false, authority: "127.0.0.1:8080")
    }

    func testPomeriumURLOverridesEveryForm() {
        assertRoute("http://db.corp:5432", "https://gw.example", destination: "db.corp:5432",
                    host: "gw.example", port: 443, tls: true, authority: "gw.example:443")
        assertRoute("https://other.example:9443/db.corp:5432", "http://gw.example:81",
                    destination: "db.corp:5432", host: "gw.example", port: 81, tls: false,
                    authority: "gw.example:81")
    }

    func testPomeriumURLIPv6AndPathIgnored() {
        assertRoute("[fd00::1]:22", "https://[::1]:8443/some/path?q=1", destination: "[fd00::1]:22",
                    host: "::1", port: 8443, tls: true, authority: "[::1]:8443")
    }

    func testEmptyPomeriumURLMeansNone() {
        assertRoute("db.corp:5432", "", destination: "db.corp:5432", host: "db.corp", port: 443, tls: true,
                    authority: "db.corp:443")
    }

    // MARK: - Errors

    func testEmptyRoute() {
        XCTAssertEqual(error(""), "missing route: give the destination as host:port, e.g. db.corp:5432")
    }

    func testMissingPort() {
        XCTAssertEqual(error("db.corp"), #"invalid route "db.corp": missing port; use host:port, e.g. db.corp:5432"#)
        XCTAssertEqual(error("db.corp:"),
                       #"invalid route "db.corp:": missing port after ":"; use host:port, e.g. db.corp:5432"#)
        XCTAssertEqual(error("[::1]"), #"invalid route "[::1]": missing port; use host:port, e.g. [::1]:5432"#)
        XCTAssertEqual(error("tcp+https://db.corp"),
                       #"invalid route "tcp+https://db.corp": missing port; use host:port, e.g. db.corp:5432"#)
        XCTAssertEqual(error("https://gw.example/db.corp"),
                       #"invalid route "https://gw.example/db.corp": missing port; use host:port, e.g. db.corp:5432"#)
    }

    func testBadPort() {
        for bad in ["0", "65536", "99999", "123456", "-1", "abc", "22a", "+22"] {
            XCTAssertEqual(error("db.corp:\(bad)"),
                           "invalid route \"db.corp:\(bad)\": port \"\(bad)\" is not a number from 1 to 65535",
                           bad)
        }
        XCTAssertEqual(error("https://gw.example:0/db.corp:5432"),
                       #"invalid route "https://gw.example:0/db.corp:5432": in the gateway "gw.example:0": port "0" is not a number from 1 to 65535"#)
    }

    func testEmptyHost() {
        XCTAssertEqual(error(":5432"),
                       #"invalid route ":5432": missing host before ":5432"; use host:port, e.g. db.corp:5432"#)
        XCTAssertEqual(error("https://"), #"invalid route "https://": missing host after "https://""#)
        XCTAssertEqual(error("https:///db.corp:5432"),
                       #"invalid route "https:///db.corp:5432": missing host after "https://""#)
        XCTAssertEqual(error("https://gw.example//"),
                       #"invalid route "https://gw.example//": empty destination in the path; use https://gateway/host:port"#)
    }

    func testSpacesAndControlCharactersAreRejected() {
        XCTAssertEqual(error("db.corp:5432 "),
                       #"invalid route "db.corp:5432 ": contains a space; a route is host:port with no spaces or control characters"#)
        XCTAssertEqual(error("db.corp:5432\r\nX-Evil: 1"),
                       #"invalid route "db.corp:5432\r\nX-Evil: 1": contains a carriage return (CR); a route is host:port with no spaces or control characters"#)
        XCTAssertEqual(error("db.corp:5432\n"),
                       #"invalid route "db.corp:5432\n": contains a line feed (LF); a route is host:port with no spaces or control characters"#)
        XCTAssertEqual(error("db\tcorp:1"),
                       #"invalid route "db\tcorp:1": contains a tab; a route is host:port with no spaces or control characters"#)
        XCTAssertEqual(error("db\u{0}:1"),
                       #"invalid route "db\x00:1": contains control character 0x00; a route is host:port with no spaces or control characters"#)
        XCTAssertEqual(error("db\u{7F}:1"),
                       #"invalid route "db\x7F:1": contains control character 0x7F; a route is host:port with no spaces or control characters"#)
        let nonASCII = error("bücher.example:443")
        XCTAssertEqual(nonASCII,
                       #"invalid route "b\xC3\xBCcher.example:443": contains non-ASCII character "\xC3\xBC" (write international host names in their xn-- form); a route is host:port with no spaces or control characters"#)
    }

    func testCharactersThatCouldInjectOrConfuse() {
        XCTAssertEqual(error("user@db.corp:22"),
                       #"invalid route "user@db.corp:22": host "user@db.corp" contains "@"; a host name has only letters, digits, "-", "." and "_""#)
        XCTAssertEqual(error("gw.example/db:1"),
                       #"invalid route "gw.example/db:1": host "gw.example/db" contains "/"; a host name has only letters, digits, "-", "." and "_""#)
        XCTAssertEqual(error("https://gw.example/db.corp:5432?x=1"),
                       #"invalid route "https://gw.example/db.corp:5432?x=1": a route has no query (?) or fragment (#); use scheme://host:port or https://gateway/host:port"#)
        XCTAssertEqual(error("https://gw.example/db.corp:5432/extra"),
                       #"invalid route "https://gw.example/db.corp:5432/extra": unexpected path after the destination "db.corp:5432"; use https://gateway/host:port"#)
    }

    func testIPv6Errors() {
        XCTAssertEqual(error("2001:db8::1:22"),
                       #"invalid route "2001:db8::1:22": host "2001:db8::1" contains ":"; write IPv6 addresses in brackets, e.g. [2001:db8::1]:22"#)
        XCTAssertEqual(error("[::1:22"),
                       #"invalid route "[::1:22": missing "]" after the IPv6 address; use [2001:db8::1]:22"#)
        XCTAssertEqual(error("[]:22"),
                       #"invalid route "[]:22": empty IPv6 address in brackets; use [2001:db8::1]:22"#)
        XCTAssertEqual(error("[db.corp]:22"),
                       #"invalid route "[db.corp]:22": "db.corp" is not an IPv6 address; use [2001:db8::1]:22"#)
        XCTAssertEqual(error("[::1]22"),
                       #"invalid route "[::1]22": unexpected "22" after "]"; use [::1]:port"#)
        for bad in ["1:2:3:4:5:6:7:8:9", "1::2::3", "12345::1", "::g", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7::8",
                    "::1.2.3.256", "::1.2.3", "1.2.3.4::", "fe80::1%eth0", "1:2:3:4:5:6:7:"] {
            XCTAssertNotNil(error("[\(bad)]:22"), bad)
        }
        for good in ["::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6::8", "::ffff:10.0.0.1",
                     "1:2:3:4:5:6:1.2.3.4", "FE80::ABCD"] {
            XCTAssertEqual(route("[\(good)]:22")?.gatewayHost, good, good)
        }
    }

    func testSchemeErrors() {
        XCTAssertEqual(error("udp+https://dns.corp:53"),
                       #"invalid route "udp+https://dns.corp:53": a UDP route needs `uvtunnel udp`"#)
        XCTAssertEqual(try? Route.parse("udp+https://dns.corp:53", pomeriumURL: nil, kind: .udp).destination, "dns.corp:53")
        XCTAssertThrowsError(try Route.parse("tcp+https://db.corp:1", pomeriumURL: nil, spelling: .configFile, kind: .udp)) {
            XCTAssertEqual(($0 as? RouteError)?.message, #"invalid route "tcp+https://db.corp:1": a TCP route needs protocol = "tcp" in its [[tunnel]]"#)
        }
        XCTAssertEqual(error("tcp+://db.corp:1"),
                       #"invalid route "tcp+://db.corp:1": missing scheme after "tcp+"; use tcp+https://host:port"#)
        XCTAssertEqual(error("://db.corp:1"),
                       #"invalid route "://db.corp:1": "://" does not start a URL; use host:port or tcp+https://host:port"#)
        XCTAssertEqual(error("1tcp://db.corp:1"),
                       #"invalid route "1tcp://db.corp:1": "1tcp://" does not start a URL; use host:port or tcp+https://host:port"#)
    }

    func testTooLong() {
        let long = String(repeating: "a", count: Route.maxLength) + ":1"
        XCTAssertEqual(error(long)?.hasSuffix(": longer than 2048 bytes"), true)
        // The message quotes only the start of it.
        XCTAssertLessThan(error(long)?.count ?? .max, 200)
        let longHost = String(repeating: "a", count: 254) + ":1"
        XCTAssertEqual(error(longHost)?.hasSuffix(": host name longer than 253 characters"), true)
        XCTAssertNotNil(route(String(repeating: "a", count: 253) + ":1"))
    }

    func testBadPomeriumURL() {
        XCTAssertEqual(error("db.corp:5432", "example.com:1234"),
                       #"invalid --pomerium-url "example.com:1234": missing scheme; use https://gateway or http://gateway, e.g. https://gw.example"#)
        XCTAssertEqual(error("db.corp:5432", "ftp://gw.example"),
                       #"invalid --pomerium-url "ftp://gw.example": scheme must be http or https, e.g. https://gw.example"#)
        XCTAssertEqual(error("db.corp:5432", "tcp+https://gw.example"),
                       #"invalid --pomerium-url "tcp+https://gw.example": scheme must be http or https, e.g. https://gw.example"#)
        XCTAssertEqual(error("db.corp:5432", "https://"),
                       #"invalid --pomerium-url "https://": has no host, e.g. https://gw.example"#)
        XCTAssertEqual(error("db.corp:5432", "https:///path"),
                       #"invalid --pomerium-url "https:///path": has no host, e.g. https://gw.example"#)
        XCTAssertEqual(error("db.corp:5432", "https://gw.example:99999"),
                       #"invalid --pomerium-url "https://gw.example:99999": port "99999" is not a number from 1 to 65535"#)
        XCTAssertEqual(error("db.corp:5432", "https://gw example"),
                       #"invalid --pomerium-url "https://gw example": contains a space"#)
        XCTAssertEqual(error("db.corp:5432", "https://user@gw.example"),
                       #"invalid --pomerium-url "https://user@gw.example": host "user@gw.example" contains "@"; a host name has only letters, digits, "-", "." and "_""#)
        XCTAssertNotNil(error("db.corp:5432", "https://" + String(repeating: "a", count: 3000)))
    }

    func testRouteErrorIsCheckedBeforePomeriumURL() {
        XCTAssertEqual(error("db.corp", "https://gw.example"),
                       #"invalid route "db.corp": missing port; use host:port, e.g. db.corp:5432"#)
    }

    func testDescriptionIsMessage() {
        let e = RouteError(message: "x")
        XCTAssertEqual(e.description, "x")
        XCTAssertEqual("\(e)", "x")
    }

    /// Arbitrary printable junk must yield a Route or a RouteError, never a crash,
    /// and any Route must be safe to put in a request line.
    func testNeverCrashesOnJunk() {
        var rng = SplitMix(seed: 42)
        let alphabet = Array("ab:[]/.@?#%+-_09 \r\n\u{0}é".unicodeScalars)
        for _ in 0..<20_000 {
            var s = ""
            for _ in 0..<Int(rng.next() % 24) {
                s.unicodeScalars.append(alphabet[Int(rng.next() % UInt64(alphabet.count))])
            }
            if let r = try? Route.parse(s, pomeriumURL: nil) {
                XCTAssertTrue(r.destination.utf8.allSatisfy { (0x21...0x7E).contains($0) }, s)
                XCTAssertFalse(r.gatewayHost.isEmpty, s)
            }
        }
    }
}
