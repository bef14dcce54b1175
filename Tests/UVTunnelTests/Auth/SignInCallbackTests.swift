import XCTest
@testable import UVTunnel

final class SignInCallbackTests: XCTestCase {
    /// Realistic shape and length; no real secret.
    private let jwt = "eyJhbGciOiJFUzI1NiJ9." + String(repeating: "eyJleHAiOjF9", count: 40) + ".c2lnbmF0dXJlLV8"

    private func head(_ method: String, _ target: String, _ headers: [(String, String)] = []) -> ConnectRequestHead {
        ConnectRequestHead(method: method, target: target, version: "HTTP/1.1",
                           headers: headers.map { HTTPHeader(name: $0.0, value: $0.1) })
    }

    /// The request as the listener sees it: raw bytes through the real parser.
    private func handleRaw(_ text: String) throws -> SignInCallback.Outcome {
        var parser = ConnectRequestParser()
        let bytes = Array(text.utf8)
        guard case .complete(let head, let consumed) = try parser.feed(bytes) else {
            XCTFail("incomplete head")
            return .rejected(response: [], reason: "")
        }
        let length = try SignInCallback.bodyLength(of: head)
        XCTAssertEqual(bytes.count - consumed, length)
        return SignInCallback.handle(head: head, body: Array(bytes[consumed...]))
    }

    private func token(_ outcome: SignInCallback.Outcome, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        guard case .token(let token, let response) = outcome else {
            XCTFail("expected a token, got \(outcome)", file: file, line: line)
            return ""
        }
        let parsed = try ParsedResponse(response, file: file, line: line)
        XCTAssertEqual(parsed.head.status, 200, file: file, line: line)
        XCTAssertTrue(parsed.bodyText.contains("Signed in. You may close this tab."), file: file, line: line)
        XCTAssertTrue(parsed.bodyText.contains("<title>uvtunnel: signed in</title>"), file: file, line: line)
        assertStandardHeaders(parsed, file: file, line: line)
        return token
    }

    /// The rejection's status; checks the page and that `secret` is nowhere.
    private func rejection(_ outcome: SignInCallback.Outcome, secret: String? = nil,
                           file: StaticString = #filePath, line: UInt = #line) throws -> (status: Int, reason: String) {
        guard case .rejected(let response, let reason) = outcome else {
            XCTFail("expected a rejection, got \(outcome)", file: file, line: line)
            return (0, "")
        }
        let parsed = try ParsedResponse(response, file: file, line: line)
        assertStandardHeaders(parsed, file: file, line: line)
        XCTAssertFalse(parsed.bodyText.contains("Signed in"), file: file, line: line)
        XCTAssertFalse(reason.contains { $0.isNewline }, file: file, line: line)
        if let secret {
            XCTAssertFalse(parsed.text.contains(secret), "response echoes the token", file: file, line: line)
            XCTAssertFalse(reason.contains(secret), "reason echoes the token", file: file, line: line)
            XCTAssertFalse("\(outcome)".contains(secret), file: file, line: line)
        }
        return (parsed.head.status, reason)
    }

    private func assertStandardHeaders(_ parsed: ParsedResponse, file: StaticString, line: UInt) {
        XCTAssertTrue(parsed.text.hasPrefix("HTTP/1.1 "), file: file, line: line)
        XCTAssertEqual(parsed.head.value(of: "Content-Type"), "text/html; charset=utf-8", file: file, line: line)
        XCTAssertEqual(parsed.head.value(of: "Connection"), "close", file: file, line: line)
        XCTAssertEqual(parsed.head.value(of: "Cache-Control"), "no-store", file: file, line: line)
        XCTAssertTrue(parsed.bodyText.hasPrefix("<!DOCTYPE html>"), file: file, line: line)
    }

    // MARK: - Tokens accepted

    func testQueryToken() throws {
        let outcome = SignInCallback.handle(head: head("GET", "/?pomerium_jwt=\(jwt)"), body: [])
        XCTAssertEqual(try token(outcome), jwt)
        guard case .token(_, let response) = outcome else { return }
        XCTAssertFalse(String(decoding: response, as: UTF8.self).contains(jwt), "success page echoes the token")
        XCTAssertFalse("\(outcome)".contains(jwt))
        XCTAssertEqual("\(outcome)", "token(<\(jwt.utf8.count) bytes, not shown>)")
        XCTAssertEqual(String(reflecting: outcome), "token(<\(jwt.utf8.count) bytes, not shown>)")
    }

    func testQueryTokenAnyPathOtherParametersAndEncoding() throws {
        XCTAssertEqual(try token(SignInCallback.handle(head: head("GET", "/callback/x?state=1&pomerium_jwt=a.b.c&z"), body: [])), "a.b.c")
        XCTAssertEqual(try token(SignInCallback.handle(head: head("GET", "/?pomerium_jwt=a%2Eb%2Ec"), body: [])), "a.b.c")
        XCTAssertEqual(try token(SignInCallback.handle(head: head("GET", "/?pomerium_jwt=a.b.c#frag"), body: [])), "a.b.c")
        // The first non-empty value wins.
        XCTAssertEqual(try token(SignInCallback.handle(head: head("GET", "/?pomerium_jwt=&pomerium_jwt=x.y.z&pomerium_jwt=a.b.c"), body: [])), "x.y.z")
        XCTAssertEqual(try token(handleRaw("GET /?pomerium_jwt=\(jwt) HTTP/1.1\r\nHost: 127.0.0.1:4321\r\n\r\n")), jwt)
    }

    func testFormToken() throws {
        let body = "state=1&pomerium_jwt=\(jwt)"
        let raw = "POST /cb HTTP/1.1\r\nHost: 127.0.0.1:4321\r\nContent-Type: Application/X-WWW-Form-Urlencoded; charset=UTF-8\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        XCTAssertEqual(try token(handleRaw(raw)), jwt)
    }

    func testQueryTokenWinsOverForm() throws {
        let h = head("POST", "/?pomerium_jwt=q.q.q", [("Content-Type", "application/x-www-form-urlencoded")])
        XCTAssertEqual(try token(SignInCallback.handle(head: h, body: Array("pomerium_jwt=f.f.f".utf8))), "q.q.q")
        // An empty query value defers to the form.
        let empty = head("POST", "/?pomerium_jwt=", [("Content-Type", "application/x-www-form-urlencoded")])
        XCTAssertEqual(try token(SignInCallback.handle(head: empty, body: Array("pomerium_jwt=f.f.f".utf8))), "f.f.f")
        // A query token makes any body irrelevant, whatever its type.
        let json = head("POST", "/?pomerium_jwt=q.q.q", [("Content-Type", "application/json")])
        XCTAssertEqual(try token(SignInCallback.handle(head: json, body: Array("{}".utf8))), "q.q.q")
    }

    // MARK: - Rejections

    func testMissingTokenIs404() throws {
        for target in ["/", "/favicon.ico", "/?other=1", "/?pomerium_jwt=", "/?pomerium_jwt", "/?POMERIUM_JWT=a.b.c", "*"] {
            let (status, reason) = try rejection(SignInCallback.handle(head: head("GET", target), body: []))
            XCTAssertEqual(status, 404, target)
            XCTAssertEqual(reason, "sign-in callback request has no pomerium_jwt parameter")
        }
        // A GET body is never read for the token.
        let get = head("GET", "/", [("Content-Type", "application/x-www-form-urlencoded")])
        XCTAssertEqual(try rejection(SignInCallback.handle(head: get, body: Array("pomerium_jwt=a.b.c".utf8))).status, 404)
        // An empty POST.
        XCTAssertEqual(try rejection(SignInCallback.handle(head: head("POST", "/"), body: [])).status, 404)
    }

    func testJunkTokenIs400AndNeverEchoed() throws {
        let junk = ["abc", "a.b", "a..c", ".b.c", "a.b.", "a.b.c.d", "a.b.c<script>alert(1)</script>", "a b.c.d",
                    "a.b.c%00", "a.b/c.d", "é.b.c", "a.b.c\r\nSet-Cookie:x"]
        for value in junk {
            let target = "/?pomerium_jwt=" + PercentEncoding.encodeQueryComponent(value)
            let (status, reason) = try rejection(SignInCallback.handle(head: head("GET", target), body: []), secret: value)
            XCTAssertEqual(status, 400, value)
            XCTAssertEqual(reason, "sign-in callback pomerium_jwt parameter is not a compact JWT")
        }
        // A maximum-size token is accepted. One byte more is past the query
        // parser's bound too, so the parameter is dropped and reads as missing
        // (404); either way it is never echoed.
        let fits = "a.b." + String(repeating: "c", count: JWT.maximumTokenSize - 4)
        XCTAssertEqual(try token(SignInCallback.handle(head: head("GET", "/?pomerium_jwt=\(fits)"), body: [])), fits)
        let tooLong = fits + "c"
        XCTAssertFalse(CompactJWTShape.isPlausible(tooLong))
        XCTAssertEqual(try rejection(SignInCallback.handle(head: head("GET", "/?pomerium_jwt=\(tooLong)"), body: []), secret: tooLong).status, 404)
        // Junk in a form body, including bytes that are not UTF-8.
        let form = head("POST", "/", [("Content-Type", "application/x-www-form-urlencoded")])
        XCTAssertEqual(try rejection(SignInCallback.handle(head: form, body: Array("pomerium_jwt=a.b".utf8) + [0xFF] + Array(".c".utf8))).status, 400)
    }

    func testOtherMethodsAre405() throws {
        for method in ["PUT", "DELETE", "HEAD", "OPTIONS", "CONNECT", "get", "PATCH"] {
            let outcome = SignInCallback.handle(head: head(method, "/?pomerium_jwt=\(jwt)"), body: [])
            let (status, reason) = try rejection(outcome, secret: jwt)
            XCTAssertEqual(status, 405, method)
            XCTAssertEqual(reason, "method \"\(method)\" is not allowed on the sign-in callback (only GET and POST)")
            guard case .rejected(let response, _) = outcome else { continue }
            XCTAssertEqual(try ParsedResponse(response).head.value(of: "Allow"), "GET, POST")
        }
    }

    func testPostWithOtherContentTypeIs415() throws {
        for type in [nil, "application/json", "text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencodedx"] {
            let h = head("POST", "/", type.map { [("Content-Type", $0)] } ?? [])
            let (status, reason) = try rejection(SignInCallback.handle(head: h, body: Array("pomerium_jwt=\(jwt)".utf8)), secret: jwt)
            XCTAssertEqual(status, 415, type ?? "none")
            XCTAssertEqual(reason, "sign-in callback POST body is not application/x-www-form-urlencoded")
        }
    }

    func testOversizedBodyPassedAnywayIs413() throws {
        let h = head("POST", "/", [("Content-Type", "application/x-www-form-urlencoded")])
        let body = Array("pomerium_jwt=a.b.c&pad=".utf8) + Array(repeating: UInt8(ascii: "x"), count: SignInCallback.maxBodyLength)
        XCTAssertEqual(try rejection(SignInCallback.handle(head: h, body: body)).status, 413)
    }

    // MARK: - Body length

    func testBodyLength() throws {
        XCTAssertEqual(try SignInCallback.bodyLength(of: head("GET", "/")), 0)
        XCTAssertEqual(try SignInCallback.bodyLength(of: head("POST", "/", [("Content-Length", "12")])), 12)
        XCTAssertEqual(try SignInCallback.bodyLength(of: head("POST", "/", [("content-length", "16384")])), 16384)
        XCTAssertEqual(try SignInCallback.bodyLength(of: head("POST", "/", [("Content-Length", "0")])), 0)
    }

    func testBodyLengthRefusals() throws {
        let cases: [([(String, String)], Int, String)] = [
            ([("Content-Length", "16385")], 413, "sign-in callback request body larger than 16384 bytes (Content-Length: 16385)"),
            ([("Content-Length", "99999999999999999999")], 400, "sign-in callback request: invalid Content-Length \"99999999999999999999\""),
            ([("Content-Length", "abc")], 400, "sign-in callback request: invalid Content-Length \"abc\""),
            ([("Content-Length", "-1")], 400, "sign-in callback request: invalid Content-Length \"-1\""),
            ([("Content-Length", "1"), ("Content-Length", "2")], 400, "sign-in callback request: conflicting Content-Length values 1 and 2"),
            ([("Transfer-Encoding", "chunked")], 411, "sign-in callback request uses Transfer-Encoding; only a Content-Length body is accepted"),
            ([("Transfer-Encoding", "chunked"), ("Content-Length", "3")], 411, "sign-in callback request uses Transfer-Encoding; only a Content-Length body is accepted"),
        ]
        for (headers, status, message) in cases {
            XCTAssertThrowsError(try SignInCallback.bodyLength(of: head("POST", "/", headers))) { error in
                guard let error = error as? SignInCallback.RequestError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.status, status)
                XCTAssertEqual(error.message, message)
                XCTAssertEqual(error.description, message)
                XCTAssertEqual(try? ParsedResponse(error.response).head.status, status)
            }
        }
    }

    func testBadRequestPageNeverShowsTheReason() throws {
        let reason = "invalid request: expected \"CONNECT host:port HTTP/1.1\", got \"GET /?pomerium_jwt=a.b.c\""
        let parsed = try ParsedResponse(SignInCallback.badRequest(reason: reason))
        XCTAssertEqual(parsed.head.status, 400)
        XCTAssertEqual(parsed.head.value(of: "Content-Type"), "text/html; charset=utf-8")
        XCTAssertFalse(parsed.text.contains("pomerium_jwt"))
        XCTAssertFalse(parsed.text.contains("a.b.c"))
    }
}
