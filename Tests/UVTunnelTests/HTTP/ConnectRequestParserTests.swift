import XCTest
@testable import UVTunnel

final class ConnectRequestParserTests: XCTestCase {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    private func head(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> ConnectRequestHead? {
        var parser = ConnectRequestParser()
        guard case .complete(let head, let consumed) = try parser.feed(bytes(text)) else {
            XCTFail("incomplete", file: file, line: line)
            return nil
        }
        XCTAssertEqual(consumed, text.utf8.count, file: file, line: line)
        return head
    }

    private func errorMessage(_ text: String, limit: Int = 16 * 1024) -> String? {
        var parser = ConnectRequestParser(limit: limit)
        do {
            _ = try parser.feed(bytes(text))
            return nil
        } catch {
            return error.message
        }
    }

    private func token(_ headerLines: String) throws -> String? {
        try head("CONNECT db:1 HTTP/1.1\r\nHost: db:1\r\n\(headerLines)\r\n")?.pomeriumToken()
    }

    // MARK: - Parsing

    func testConnect() throws {
        let h = try XCTUnwrap(head("CONNECT db.corp:5432 HTTP/1.1\r\nHost: db.corp:5432\r\nUser-Agent: uvtunnel/0.1.0\r\n\r\n"))
        XCTAssertEqual(h, ConnectRequestHead(method: "CONNECT", target: "db.corp:5432", version: "HTTP/1.1", headers: [
            HTTPHeader(name: "Host", value: "db.corp:5432"), HTTPHeader(name: "User-Agent", value: "uvtunnel/0.1.0"),
        ]))
        XCTAssertEqual(h.value(of: "user-agent"), "uvtunnel/0.1.0")
        XCTAssertNil(h.pomeriumToken())
    }

    func testAnyMethodAndHTTP10() throws {
        let h = try XCTUnwrap(head("GET /index.html?x=1 HTTP/1.0\n\n"))
        XCTAssertEqual(h.method, "GET")
        XCTAssertEqual(h.target, "/index.html?x=1")
        XCTAssertEqual(h.version, "HTTP/1.0")
        XCTAssertEqual(h.headers, [])
        XCTAssertEqual(try XCTUnwrap(head("CONNECT [2001:db8::1]:22 HTTP/1.1\r\n\r\n")).target, "[2001:db8::1]:22")
    }

    func testByteByByteAndTunnelBytes() throws {
        let request = bytes("CONNECT db:1 HTTP/1.1\r\nHost: db:1\r\nAuthorization: Pomerium a.b.c\r\n\r\n")
        var parser = ConnectRequestParser()
        for (i, byte) in request.enumerated() {
            let step = try parser.feed([byte])
            if i < request.count - 1 {
                XCTAssertEqual(step, .needMore, "byte \(i)")
            } else {
                XCTAssertEqual(step.consumed, 1)
            }
        }
        for split in 0...request.count {
            var p = ConnectRequestParser()
            var tunnel: [UInt8] = []
            var done = false
            for chunk in [request[..<split], request[split...] + bytes("hello")] {
                if done { tunnel += chunk; continue }
                if case .complete(let h, let consumed) = try p.feed(chunk) {
                    XCTAssertEqual(h.pomeriumToken(), "a.b.c")
                    tunnel += chunk.dropFirst(consumed)
                    done = true
                }
            }
            XCTAssertTrue(done, "split \(split)")
            XCTAssertEqual(tunnel, bytes("hello"), "split \(split)")
        }
    }

    // MARK: - Tokens (SPEC: three header forms)

    func testAuthorizationPomerium() throws {
        XCTAssertEqual(try token("Authorization: Pomerium eyJ.a.b\r\n"), "eyJ.a.b")
        XCTAssertEqual(try token("authorization: pomerium eyJ.a.b\r\n"), "eyJ.a.b")
    }

    func testXPomeriumAuthorization() throws {
        XCTAssertEqual(try token("X-Pomerium-Authorization: eyJ.c.d\r\n"), "eyJ.c.d")
        XCTAssertEqual(try token("x-pomerium-authorization: eyJ.c.d\r\n"), "eyJ.c.d")
    }

    func testBearerPomerium() throws {
        XCTAssertEqual(try token("Authorization: Bearer Pomerium-eyJ.e.f\r\n"), "eyJ.e.f")
        XCTAssertEqual(try token("Authorization: bearer pomerium-eyJ.e.f\r\n"), "eyJ.e.f")
    }

    func testTokenPrecedenceAndNonTokens() throws {
        // Pomerium's order: X-Pomerium-Authorization first.
        XCTAssertEqual(try token("Authorization: Pomerium one\r\nX-Pomerium-Authorization: two\r\n"), "two")
        XCTAssertEqual(try token("X-Pomerium-Authorization:\r\nAuthorization: Pomerium one\r\n"), "one")
        XCTAssertNil(try token("Authorization: Bearer eyJ.a.b\r\n"))
        XCTAssertNil(try token("Authorization: Basic dXNlcjpwYXNz\r\n"))
        XCTAssertNil(try token("Authorization: Pomerium\r\n"))
        XCTAssertNil(try token("Authorization: Pomerium \r\n"))
        XCTAssertNil(try token("Authorization: Bearer Pomerium-\r\n"))
        XCTAssertNil(try token("Authorization: PomeriumX a\r\n"))
        XCTAssertNil(try token("Proxy-Authorization: Pomerium a\r\n"))
    }

    // MARK: - Limits and rejections

    func testGarbageFailsAtOnce() {
        // A TLS ClientHello sent to a plain listener.
        var parser = ConnectRequestParser()
        XCTAssertThrowsError(try parser.feed([0x16])) { error in
            XCTAssertEqual((error as? HTTPHeadError)?.message,
                           #"invalid request: expected "CONNECT host:port HTTP/1.1", got "\x16""#)
        }
        for bad in [" CONNECT a:1 HTTP/1.1\r\n\r\n", "CONNECT  a:1 HTTP/1.1\r\n\r\n", "CONNECT a:1 HTTP/2\r\n\r\n",
                    "CONNECT a:1\r\n\r\n", "CONNECT a:1 HTTP/1.1 x\r\n\r\n", "CONNECT a:1 http/1.1\r\n\r\n",
                    "CONNECT a\u{7F}:1 HTTP/1.1\r\n\r\n", "CONNECT a:1 HTTP/1.\r\n\r\n", "\r\nCONNECT a:1 HTTP/1.1\r\n\r\n",
                    "CONN(ECT a:1 HTTP/1.1\r\n\r\n", "CONNECT a:1 HTTP/1.1\t\r\n\r\n", "CONNECT\ta:1 HTTP/1.1\r\n\r\n"] {
            XCTAssertEqual(errorMessage(bad)?.hasPrefix(#"invalid request: expected "CONNECT host:port HTTP/1.1", got "#),
                           true, bad)
        }
    }

    func testMethodLengthLimit() {
        let long = String(repeating: "A", count: 33)
        XCTAssertNotNil(errorMessage("\(long) a:1 HTTP/1.1\r\n\r\n"))
        XCTAssertNil(errorMessage("\(String(repeating: "A", count: 32)) a:1 HTTP/1.1\r\n\r\n"))
    }

    func testSizeLimit() {
        XCTAssertEqual(errorMessage("CONNECT " + String(repeating: "a", count: 20_000) + ":1 HTTP/1.1\r\n\r\n"),
                       "invalid request: request head larger than 16384 bytes")
        let exact = "CONNECT a:1 HTTP/1.1\r\n\r\n"
        XCTAssertNil(errorMessage(exact, limit: exact.utf8.count))
        XCTAssertEqual(errorMessage(exact, limit: exact.utf8.count - 1),
                       "invalid request: request head larger than \(exact.utf8.count - 1) bytes")
    }

    func testHeaderCountLimit() {
        let ok = (0..<100).map { "X-\($0): v\r\n" }.joined()
        XCTAssertNil(errorMessage("CONNECT a:1 HTTP/1.1\r\n\(ok)\r\n"))
        let tooMany = (0..<101).map { "X-\($0): v\r\n" }.joined()
        XCTAssertEqual(errorMessage("CONNECT a:1 HTTP/1.1\r\n\(tooMany)\r\n"),
                       "invalid request: more than 100 header lines")
    }

    func testControlCharactersAndMalformedHeaders() {
        XCTAssertEqual(errorMessage("CONNECT a:1 HTTP/1.1\r\nX: a\u{1}b\r\n\r\n"),
                       "invalid request: control character 0x01 in the request head")
        XCTAssertEqual(errorMessage("CONNECT a:1 HTTP/1.1\r\nX: a\rb\r\n\r\n"),
                       "invalid request: carriage return not followed by line feed in the request head")
        XCTAssertEqual(errorMessage("CONNECT a:1 HTTP/1.1\r\nHost : a:1\r\n\r\n"),
                       #"invalid request: malformed header line "Host : a:1""#)
        XCTAssertEqual(errorMessage("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n continued\r\n\r\n"),
                       #"invalid request: malformed header line " continued""#)
    }

    func testEndOfInputAndStickyErrors() throws {
        XCTAssertEqual(ConnectRequestParser().endOfInput().message,
                       "client closed the connection before sending a request")
        var parser = ConnectRequestParser()
        XCTAssertEqual(try parser.feed(bytes("CONNECT a:1 HTTP/1.1\r\n")), .needMore)
        XCTAssertEqual(parser.endOfInput().message,
                       "client closed the connection after 22 bytes, before the end of the request head")
        var bad = ConnectRequestParser()
        XCTAssertThrowsError(try bad.feed(bytes("\u{16}\u{3}\u{1}")))
        XCTAssertThrowsError(try bad.feed(bytes("CONNECT a:1 HTTP/1.1\r\n\r\n")))
        XCTAssertEqual(bad.endOfInput().message,
                       #"invalid request: expected "CONNECT host:port HTTP/1.1", got "\x16\x03\x01""#)
    }

    func testNeverCrashesOnRandomInput() {
        var rng = SplitMix(seed: 99)
        let pieces = ["CONNECT", " ", "a:1", "HTTP/1.1", "HTTP/1.0", "\r\n", "\n", "\r", "Authorization: Pomerium x",
                      ":", "\0", "é", "GET"]
        for _ in 0..<5_000 {
            let input = rng.mix(of: pieces, parts: 12)
            var parser = ConnectRequestParser(limit: 64)
            for chunk in rng.chunks(of: input, longest: 5) {
                guard let step = try? parser.feed(chunk) else { break }
                if case .complete(let h, let consumed) = step {
                    XCTAssertTrue((1...chunk.count).contains(consumed))
                    XCTAssertFalse(h.method.isEmpty)
                    XCTAssertTrue(h.version == "HTTP/1.1" || h.version == "HTTP/1.0")
                    break
                }
            }
        }
    }
}
