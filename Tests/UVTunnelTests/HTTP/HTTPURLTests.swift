import XCTest
@testable import UVTunnel

final class HTTPURLTests: XCTestCase {
    private func url(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> HTTPURL {
        do {
            return try HTTPURL.parse(text)
        } catch {
            XCTFail("\(text): \(error)", file: file, line: line)
            throw error
        }
    }

    private func parseError(_ text: String) -> String? {
        do {
            _ = try HTTPURL.parse(text)
            return nil
        } catch {
            return error.message
        }
    }

    // MARK: - Parsing

    func testHTTPSDefaults() throws {
        let u = try url("https://gw.example")
        XCTAssertEqual(u.scheme, "https")
        XCTAssertEqual(u.host, "gw.example")
        XCTAssertEqual(u.port, 443)
        XCTAssertFalse(u.hasExplicitPort)
        XCTAssertTrue(u.isTLS)
        XCTAssertEqual(u.pathAndQuery, "/")
        XCTAssertEqual(u.authority, "gw.example:443")
        XCTAssertEqual(u.hostForURL, "gw.example")
        XCTAssertEqual(u.description, "https://gw.example/")
    }

    func testHTTPExplicitPortAndCaseFolding() throws {
        let u = try url("HTTP://GW.Example:8080/Path/To?Q=A")
        XCTAssertEqual(u.scheme, "http")
        XCTAssertEqual(u.host, "gw.example")
        XCTAssertEqual(u.port, 8080)
        XCTAssertTrue(u.hasExplicitPort)
        XCTAssertFalse(u.isTLS)
        XCTAssertEqual(u.pathAndQuery, "/Path/To?Q=A")  // path and query keep their case
        XCTAssertEqual(u.description, "http://gw.example:8080/Path/To?Q=A")
        XCTAssertEqual(try url("http://h").port, 80)
    }

    func testExplicitDefaultPortIsKept() throws {
        let u = try url("https://gw.example:443/x")
        XCTAssertEqual(u.port, 443)
        XCTAssertTrue(u.hasExplicitPort)
        XCTAssertEqual(u.description, "https://gw.example:443/x")
    }

    func testIPv6() throws {
        let u = try url("https://[2001:DB8::1]:8443/a?b=c#frag")
        XCTAssertEqual(u.host, "2001:db8::1")
        XCTAssertEqual(u.hostForURL, "[2001:db8::1]")
        XCTAssertEqual(u.authority, "[2001:db8::1]:8443")
        XCTAssertEqual(u.pathAndQuery, "/a?b=c")
        XCTAssertEqual(u.description, "https://[2001:db8::1]:8443/a?b=c")
        let loopback = try url("http://[::1]")
        XCTAssertEqual(loopback.host, "::1")
        XCTAssertEqual(loopback.authority, "[::1]:80")
        XCTAssertEqual(loopback.description, "http://[::1]/")
    }

    func testQueryOnlyFragmentAndDotSegments() throws {
        XCTAssertEqual(try url("http://h?x=1").pathAndQuery, "/?x=1")
        XCTAssertEqual(try url("http://h#top").pathAndQuery, "/")
        XCTAssertEqual(try url("http://h/a?x=1#f?g").pathAndQuery, "/a?x=1")
        XCTAssertEqual(try url("http://h/a/b/../c/./d").pathAndQuery, "/a/c/d")
        XCTAssertEqual(try url("http://h/../../x").pathAndQuery, "/x")
        XCTAssertEqual(try url("http://h/a/..").pathAndQuery, "/")
        XCTAssertEqual(try url("http://h/a/.").pathAndQuery, "/a/")
        XCTAssertEqual(try url("http://h/a/./?q=../x").pathAndQuery, "/a/?q=../x")  // the query is not a path
        XCTAssertEqual(try url("http://h/file.name/.hidden").pathAndQuery, "/file.name/.hidden")
    }

    func testRejected() {
        let cases: [(String, String)] = [
            ("", "empty"),
            ("gw.example/path", "not an absolute URL; expected http://host/… or https://host/…"),
            ("//gw.example/", "not an absolute URL; expected http://host/… or https://host/…"),
            ("ftp://gw.example/", "scheme must be http or https"),
            ("tcp+https://gw.example/", "scheme must be http or https"),
            ("http://", "missing host"),
            ("http:///x", "missing host"),
            ("http://?x", "missing host"),
            ("http://user@h/", "user name or password before the host (\"user@host\") is not allowed"),
            ("http://user:pw@h/", "user name or password before the host (\"user@host\") is not allowed"),
            ("http://127.0.0.1@evil.com/", "user name or password before the host (\"user@host\") is not allowed"),
            ("http://h h/", "contains a space"),
            ("http://h/a b", "contains a space"),
            ("http://h/\r\nX: y", "contains control character 0x0D"),
            ("http://h/\u{7F}", "contains control character 0x7F"),
            ("http://h/é", "contains a non-ASCII byte 0xC3; percent-encode it"),
            ("http://h\\@evil.com/", "contains a backslash"),
            ("http://h/\\evil.com", "contains a backslash"),
        ]
        for (text, why) in cases {
            XCTAssertEqual(parseError(text), "invalid URL \(PrintableText.quoted(text)): \(why)", text)
        }
        // Host and port problems come from HostPort, worded there.
        for text in ["http://h:0/", "http://h:65536/", "http://h:abc/", "http://h:/", "http://[::1/", "http://[zz]/",
                     "http://a:b:c/", "http://[::1]x/", "http://h%2e/", "http://h_!/"] {
            let message = parseError(text)
            XCTAssertEqual(message?.hasPrefix("invalid URL \(PrintableText.quoted(text)): "), true, text)
        }
        let long = "http://h/" + String(repeating: "a", count: HTTPURL.maxLength)
        XCTAssertEqual(parseError(long), "invalid URL \(PrintableText.quoted(long)): longer than 8192 bytes")
        XCTAssertNil(parseError(String(long.prefix(HTTPURL.maxLength))))
    }

    // MARK: - Resolving redirects

    func testResolving() throws {
        let base = try url("https://gw.example:8443/a/b/c?q=1")
        let cases: [(String, String)] = [
            ("https://other.example/x", "https://other.example/x"),
            ("HTTP://Other:81", "http://other:81/"),
            ("//cdn.example/p?x", "https://cdn.example/p?x"),
            ("//[::1]:9000/cb", "https://[::1]:9000/cb"),
            ("/root?y=2", "https://gw.example:8443/root?y=2"),
            ("/", "https://gw.example:8443/"),
            ("d", "https://gw.example:8443/a/b/d"),
            ("d?e=f#g", "https://gw.example:8443/a/b/d?e=f"),
            ("./d", "https://gw.example:8443/a/b/d"),
            ("../d", "https://gw.example:8443/a/d"),
            ("../../../../d", "https://gw.example:8443/d"),
            ("./", "https://gw.example:8443/a/b/"),
            ("..", "https://gw.example:8443/a/"),
            ("?z=3", "https://gw.example:8443/a/b/c?z=3"),
            ("#frag", "https://gw.example:8443/a/b/c?q=1"),
            ("/x/../y/./z", "https://gw.example:8443/y/z"),
        ]
        for (location, expected) in cases {
            XCTAssertEqual(try base.resolving(location).description, expected, location)
        }
        // Relative to a root path, and with the default port left implicit.
        let root = try url("http://gw.example")
        XCTAssertEqual(try root.resolving("login").description, "http://gw.example/login")
        XCTAssertEqual(try root.resolving("/a").port, 80)
        XCTAssertFalse(try root.resolving("/a").hasExplicitPort)
    }

    func testResolvingRejects() throws {
        let base = try url("https://gw.example/a")
        for location in ["", "mailto:x@y", "javascript:alert(1)", "ftp://x/", "https:relative", "/a b", "//user@evil.com/",
                         "http://127.0.0.1@evil.com/", "/\r\nSet-Cookie: x", "\\\\evil.com", "//", "é"] {
            XCTAssertThrowsError(try base.resolving(location), location) { error in
                let message = (error as? HTTPURLError)?.message ?? ""
                XCTAssertTrue(message.hasPrefix("invalid "), message)
                XCTAssertFalse(message.contains { $0.isNewline }, message)
            }
        }
        // A long path made longer by merging is refused by the same bound.
        let deep = try url("https://gw.example/" + String(repeating: "d/", count: 4000))
        XCTAssertThrowsError(try deep.resolving(String(repeating: "x", count: 300)))
    }

    /// Junk from a hostile Location: a URL or an error, never a crash, and any
    /// URL is safe for a request line and a Host header.
    func testNeverCrashesOnJunk() throws {
        var rng = SplitMix(seed: 31)
        let alphabet = Array("ab:[]/.@?#%+-_09 \\\r\n\u{0}é1".unicodeScalars)
        let base = try url("https://gw.example/a/b")
        let prefixes = ["", "http://", "https://", "//", "/", "../"]
        for _ in 0..<20_000 {
            var s = prefixes[Int(rng.next() % UInt64(prefixes.count))]
            for _ in 0..<Int(rng.next() % 20) {
                s.unicodeScalars.append(alphabet[Int(rng.next() % UInt64(alphabet.count))])
            }
            for result in [try? HTTPURL.parse(s), try? base.resolving(s)] {
                guard let u = result else { continue }
                XCTAssertTrue(u.pathAndQuery.hasPrefix("/"), s)
                XCTAssertTrue(u.description.utf8.allSatisfy { (0x21...0x7E).contains($0) }, s)
                XCTAssertFalse(u.host.isEmpty, s)
                XCTAssertEqual(try? HTTPURL.parse(u.description), u, "re-parse of \(u)")
            }
        }
    }
}
