import XCTest
@testable import UVTunnel
@testable import UVTunnelGateway

final class GatewayLoginPagesTests: XCTestCase {
    // MARK: - Redirect URI validation

    func testAcceptsLoopbackRedirects() throws {
        let cases: [(String, String)] = [
            ("http://localhost", "http://localhost/"),
            ("http://localhost/", "http://localhost/"),
            ("http://localhost:8080", "http://localhost:8080/"),
            ("http://localhost:8080/cb?x=1", "http://localhost:8080/cb?x=1"),
            ("http://127.0.0.1", "http://127.0.0.1/"),
            ("http://127.0.0.1:4321", "http://127.0.0.1:4321/"),
            ("http://127.0.0.1:4321/any/path", "http://127.0.0.1:4321/any/path"),
            ("http://[::1]", "http://[::1]/"),
            ("http://[::1]:4321/path", "http://[::1]:4321/path"),
            ("HTTP://LocalHost:1/", "http://localhost:1/"),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(GatewayLoginPages.validateRedirectURI(text)?.description, expected, text)
        }
    }

    func testRejectsEverythingElse() {
        let rejected = [
            "https://127.0.0.1:4321", "https://localhost/", "ftp://localhost/",
            "http://evil.com/", "http://127.0.0.1.evil.com/", "http://localhost.evil.com/", "http://127.0.0.1.nip.io/",
            "http://127.0.0.1@evil.com/", "http://evil.com@127.0.0.1/", "http://user:pw@localhost/",
            "http://127.0.0.1\\@evil.com/", "http://127.0.0.1%2F@evil.com/", "http://127.0.0.1%00.evil.com/",
            "http://127.0.0.2/", "http://0.0.0.0/", "http://[::2]/", "http://[::ffff:127.0.0.1]/", "http://2130706433/",
            "http://127.0.0.1:99999/", "http://127.0.0.1:0/", "http://127.0.0.1 /", "http://[::1]evil/",
            "javascript:alert(1)", "//127.0.0.1/", "127.0.0.1:4321", "localhost", "", "http://", "http://\n127.0.0.1/",
        ]
        for text in rejected {
            XCTAssertNil(GatewayLoginPages.validateRedirectURI(text), text)
        }
    }

    // MARK: - Responses

    func testLoginResponse() throws {
        let url = "https://gw.example/.pomerium/sign_in?redirect_uri=http%3A%2F%2F127.0.0.1%3A4321"
        let parsed = try ParsedResponse(GatewayLoginPages.loginResponse(signInURL: url))
        XCTAssertEqual(parsed.head.status, 200)
        XCTAssertEqual(parsed.head.value(of: "Content-Type"), "text/plain; charset=utf-8")
        XCTAssertEqual(parsed.bodyText, url)
    }

    func testSignInPage() throws {
        let parsed = try ParsedResponse(GatewayLoginPages.signInPage(redirectURI: "http://127.0.0.1:4321",
                                                                     approveURL: "/.pomerium/approve"))
        XCTAssertEqual(parsed.head.status, 200)
        XCTAssertEqual(parsed.head.value(of: "Content-Type"), "text/html; charset=utf-8")
        XCTAssertTrue(parsed.bodyText.contains("<form method=\"get\" action=\"/.pomerium/approve\">"), parsed.bodyText)
        XCTAssertTrue(parsed.bodyText.contains("<input type=\"hidden\" name=\"redirect_uri\" value=\"http://127.0.0.1:4321\">"), parsed.bodyText)
        XCTAssertEqual(parsed.bodyText.components(separatedBy: "<button").count, 2, "exactly one button")
    }

    func testSignInPageEscapesAndCarriesApproveQuery() throws {
        let hostile = "http://127.0.0.1/\"><script>alert('x')</script>&"
        let parsed = try ParsedResponse(GatewayLoginPages.signInPage(redirectURI: hostile,
                                                                     approveURL: "/approve?state=a%26b&x=\"<>\""))
        let html = parsed.bodyText
        XCTAssertFalse(html.contains("<script>"), html)
        XCTAssertTrue(html.contains("value=\"http://127.0.0.1/&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;\""), html)
        // A GET form drops the action's query, so it travels as hidden fields.
        XCTAssertTrue(html.contains("action=\"/approve\""), html)
        XCTAssertTrue(html.contains("<input type=\"hidden\" name=\"state\" value=\"a&amp;b\">"), html)
        XCTAssertTrue(html.contains("<input type=\"hidden\" name=\"x\" value=\"&quot;&lt;&gt;&quot;\">"), html)
    }

    func testRedirect() throws {
        let bytes = GatewayLoginPages.redirect(to: "http://127.0.0.1:4321/?pomerium_jwt=a.b.c")
        let parsed = try ParsedResponse(bytes)
        XCTAssertEqual(parsed.head.status, 302)
        XCTAssertEqual(parsed.head.value(of: "Location"), "http://127.0.0.1:4321/?pomerium_jwt=a.b.c")
        XCTAssertEqual(parsed.head.value(of: "Content-Length"), "0")
        XCTAssertEqual(parsed.body, [])
        XCTAssertTrue(parsed.text.hasSuffix("\r\n\r\n"))
    }

    func testRedirectCannotSplitTheHeader() throws {
        let parsed = try ParsedResponse(GatewayLoginPages.redirect(to: "http://a/\r\nSet-Cookie: x=1 é"))
        XCTAssertNil(parsed.head.value(of: "Set-Cookie"))
        XCTAssertEqual(parsed.head.value(of: "Location"), "http://a/%0D%0ASet-Cookie:%20x=1%20%C3%A9")
    }

    func testPlain() throws {
        let parsed = try ParsedResponse(GatewayLoginPages.plain(status: 400, reason: "Bad Request", text: "invalid redirect uri\n"))
        XCTAssertEqual(parsed.head.status, 400)
        XCTAssertEqual(parsed.head.reason, "Bad Request")
        XCTAssertEqual(parsed.head.value(of: "Content-Type"), "text/plain; charset=utf-8")
        XCTAssertEqual(parsed.bodyText, "invalid redirect uri\n")
        // A reason phrase cannot carry a line break into the head.
        let split = try ParsedResponse(GatewayLoginPages.plain(status: 404, reason: "No\r\nX-Evil: 1", text: ""))
        XCTAssertNil(split.head.value(of: "X-Evil"))
        XCTAssertEqual(split.head.reason, "No??X-Evil: 1")
    }

    // MARK: - Callback location

    func testCallbackLocation() throws {
        func location(_ uri: String, _ token: String = "a.b.c") throws -> String {
            GatewayLoginPages.callbackLocation(redirectURI: try XCTUnwrap(GatewayLoginPages.validateRedirectURI(uri)), token: token)
        }
        XCTAssertEqual(try location("http://127.0.0.1:4321"), "http://127.0.0.1:4321/?pomerium_jwt=a.b.c")
        XCTAssertEqual(try location("http://localhost/cb?x=1"), "http://localhost/cb?x=1&pomerium_jwt=a.b.c")
        XCTAssertEqual(try location("http://localhost/cb?"), "http://localhost/cb?pomerium_jwt=a.b.c")
        XCTAssertEqual(try location("http://localhost/cb?x=1&"), "http://localhost/cb?x=1&pomerium_jwt=a.b.c")
        XCTAssertEqual(try location("http://[::1]:9/#frag"), "http://[::1]:9/?pomerium_jwt=a.b.c")
        XCTAssertEqual(try location("http://127.0.0.1:1", "a+b/c=&d"), "http://127.0.0.1:1/?pomerium_jwt=a%2Bb%2Fc%3D%26d")
    }

    /// The whole hand-off with the real pieces: the client's login URL, the
    /// gateway's check of the redirect it carries, the redirect it answers
    /// with, and the client's callback reading the token back.
    func testTokenSurvivesTheRoundTrip() throws {
        let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjF9.c2ln-_"
        let route = try Route.parse("db:5432", pomeriumURL: "https://gw.example:8443")
        let login = LoginURL.make(route: route, callbackPort: 4321)

        // Gateway side: read pomerium_redirect_uri from the login request's query.
        let query = try XCTUnwrap(login.pathAndQuery.split(separator: "?", maxSplits: 1).last)
        let redirectText = try XCTUnwrap(PercentEncoding.parseQuery(query).first { $0.0 == "pomerium_redirect_uri" }?.1)
        let redirect = try XCTUnwrap(GatewayLoginPages.validateRedirectURI(redirectText))
        let answer = try ParsedResponse(GatewayLoginPages.redirect(to: GatewayLoginPages.callbackLocation(redirectURI: redirect, token: jwt)))
        let location = try XCTUnwrap(answer.head.value(of: "Location"))

        // Browser: follows Location to the client's listener.
        let target = try HTTPURL.parse(location)
        XCTAssertEqual(target.authority, "127.0.0.1:4321")
        var parser = ConnectRequestParser()
        guard case .complete(let head, _) = try parser.feed(Array("GET \(target.pathAndQuery) HTTP/1.1\r\nHost: \(target.authority)\r\n\r\n".utf8)) else {
            return XCTFail("request head incomplete")
        }
        guard case .token(let received, _) = SignInCallback.handle(head: head, body: []) else {
            return XCTFail("no token received")
        }
        XCTAssertEqual(received, jwt)
    }
}
