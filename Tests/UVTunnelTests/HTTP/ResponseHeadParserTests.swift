import Foundation
import XCTest
@testable import UVTunnel

final class ResponseHeadParserTests: XCTestCase {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Feeds `input` in one read; returns the head and consumed count.
    private func parseAll(_ input: [UInt8], file: StaticString = #filePath,
                          line: UInt = #line) throws -> (ResponseHead, Int)? {
        var parser = ResponseHeadParser()
        switch try parser.feed(input) {
        case .complete(let head, let consumed): return (head, consumed)
        case .needMore:
            XCTFail("head not complete", file: file, line: line)
            return nil
        }
    }

    private func errorMessage(_ chunks: [[UInt8]], limit: Int = 16 * 1024) -> String? {
        var parser = ResponseHeadParser(limit: limit)
        for chunk in chunks {
            do {
                if case .complete = try parser.feed(chunk) { return nil }
            } catch {
                return error.message
            }
        }
        return nil
    }

    // MARK: - Statuses from the SPEC table

    func testEverySpecStatus() throws {
        let table: [(Int, String)] = [
            (200, "Connection established"), (301, "Moved Permanently"), (302, "Found"),
            (307, "Temporary Redirect"), (308, "Permanent Redirect"), (401, "Unauthorized"),
            (403, "Forbidden"), (404, "Not Found"), (450, ""), (495, "SSL Certificate Error"),
            (500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable"),
        ]
        for (status, reason) in table {
            let text = "HTTP/1.1 \(status) \(reason)\r\nContent-Length: 0\r\n\r\n"
            let (head, consumed) = try XCTUnwrap(parseAll(bytes(text)))
            XCTAssertEqual(head.status, status)
            XCTAssertEqual(head.reason, reason)
            XCTAssertEqual(head.headers, [HTTPHeader(name: "Content-Length", value: "0")])
            XCTAssertEqual(consumed, text.utf8.count)
        }
    }

    func testRedirectLocationAndHeaderLookup() throws {
        let text = "HTTP/1.1 302 Found\r\nLocation: https://auth.example/?x=1\r\nX-Multi: a\r\nx-multi: b\r\n\r\n"
        let (head, _) = try XCTUnwrap(parseAll(bytes(text)))
        XCTAssertEqual(head.value(of: "location"), "https://auth.example/?x=1")
        XCTAssertEqual(head.value(of: "LOCATION"), "https://auth.example/?x=1")
        XCTAssertEqual(head.value(of: "X-MULTI"), "a")
        XCTAssertNil(head.value(of: "Set-Cookie"))
    }

    func testHTTP10NoReasonAndWhitespace() throws {
        let (head, _) = try XCTUnwrap(parseAll(bytes("HTTP/1.0 200\r\nServer:envoy\r\nX-A: \t v \t\r\nX-Empty:\r\n\r\n")))
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.reason, "")
        XCTAssertEqual(head.headers, [HTTPHeader(name: "Server", value: "envoy"), HTTPHeader(name: "X-A", value: "v"),
                                      HTTPHeader(name: "X-Empty", value: "")])
        let (spaced, _) = try XCTUnwrap(parseAll(bytes("HTTP/1.1 200 \r\n\r\n")))
        XCTAssertEqual(spaced.reason, "")
    }

    // MARK: - Chunking

    func testSplitAtEveryOffsetAndByteByByte() throws {
        let head = "HTTP/1.1 200 OK\r\nServer: envoy\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n"
        let tunnel = "SSH-2.0-OpenSSH_9.6\r\n"
        let input = bytes(head + tunnel)
        let expected = ResponseHead(status: 200, reason: "OK", headers: [
            HTTPHeader(name: "Server", value: "envoy"),
            HTTPHeader(name: "Date", value: "Mon, 01 Jan 2024 00:00:00 GMT"),
        ])
        for split in 0...input.count {
            var parser = ResponseHeadParser()
            var forwarded: [UInt8] = []
            var result: ResponseHead?
            for chunk in [input[..<split], input[split...]] {
                if result != nil { forwarded += chunk; continue }
                if case .complete(let h, let consumed) = try parser.feed(chunk) {
                    result = h
                    forwarded += chunk.dropFirst(consumed)
                }
            }
            XCTAssertEqual(result, expected, "split at \(split)")
            XCTAssertEqual(forwarded, bytes(tunnel), "split at \(split)")
        }

        var parser = ResponseHeadParser()
        for (i, byte) in bytes(head).enumerated() {
            let step = try parser.feed([byte])
            if i < head.utf8.count - 1 {
                XCTAssertEqual(step, .needMore, "byte \(i)")
            } else {
                XCTAssertEqual(step, .complete(expected, consumed: 1))
            }
        }
    }

    func testTunnelBytesInTheSameRead() throws {
        let head = bytes("HTTP/1.1 200 Connection established\r\n\r\n")
        let tunnel: [UInt8] = [0x00, 0x16, 0x03, 0x01, 0xFF, 0x0D, 0x0A, 0x0D, 0x0A]
        let (parsed, consumed) = try XCTUnwrap(parseAll(head + tunnel))
        XCTAssertEqual(parsed.status, 200)
        XCTAssertEqual(consumed, head.count)
        XCTAssertEqual(Array((head + tunnel)[consumed...]), tunnel)
    }

    func testConsumedIsRelativeToTheSliceFed() throws {
        // An ArraySlice whose indices do not start at 0, and Foundation Data.
        let buffer = bytes("xxxxHTTP/1.1 200 OK\r\n\r\ntunnel")
        var parser = ResponseHeadParser()
        XCTAssertEqual(try parser.feed(buffer[4...]).consumed, 19)
        var second = ResponseHeadParser()
        XCTAssertEqual(try second.feed(Data("HTTP/1.1 200 OK\n\ntunnel".utf8)).consumed, 17)
    }

    func testEmptyReadsNeedMore() throws {
        var parser = ResponseHeadParser()
        XCTAssertEqual(try parser.feed([UInt8]()), .needMore)
        XCTAssertEqual(try parser.feed(bytes("HTTP/1.1 2")), .needMore)
        XCTAssertEqual(try parser.feed([UInt8]()), .needMore)
        XCTAssertEqual(try parser.feed(bytes("00 OK\r\n\r")), .needMore)
        XCTAssertEqual(try parser.feed(bytes("\nabc")).consumed, 1)
    }

    func testAfterCompletionNothingMoreIsConsumed() throws {
        var parser = ResponseHeadParser()
        let first = try parser.feed(bytes("HTTP/1.1 200 OK\r\n\r\n"))
        XCTAssertEqual(first.consumed, 19)
        let again = try parser.feed(bytes("more"))
        XCTAssertEqual(again, .complete(ResponseHead(status: 200, reason: "OK", headers: []), consumed: 0))
    }

    func testBareLineFeeds() throws {
        let text = "HTTP/1.1 403 Forbidden\nContent-Type: text/plain\n\nbody"
        let (head, consumed) = try XCTUnwrap(parseAll(bytes(text)))
        XCTAssertEqual(head.status, 403)
        XCTAssertEqual(head.value(of: "content-type"), "text/plain")
        XCTAssertEqual(consumed, text.utf8.count - 4)
        // Mixed line ends.
        let (mixed, mixedConsumed) = try XCTUnwrap(parseAll(bytes("HTTP/1.1 404 Not Found\r\nA: b\n\r\nX")))
        XCTAssertEqual(mixed.status, 404)
        XCTAssertEqual(mixedConsumed, 31)
    }

    // MARK: - Failures

    func testGarbageFailsOnTheFirstBadByte() {
        var parser = ResponseHeadParser()
        XCTAssertThrowsError(try parser.feed(bytes("S"))) { error in
            XCTAssertEqual((error as? HTTPHeadError)?.message,
                           #"gateway sent an invalid response: expected "HTTP/1.1 <status>", got "S""#)
        }
        XCTAssertEqual(errorMessage([bytes("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n")]),
                       #"gateway sent an invalid response: expected "HTTP/1.1 <status>", got "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ub...""#)
        // A TLS alert (plain client talking to a TLS port): escaped, no raw control bytes.
        XCTAssertEqual(errorMessage([[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]]),
                       #"gateway sent an invalid response: expected "HTTP/1.1 <status>", got "\x15\x03\x03\x00\x02\x02F""#)
        XCTAssertEqual(errorMessage([bytes("HTTP/1.1 "), bytes("abc")]),
                       #"gateway sent an invalid response: expected "HTTP/1.1 <status>", got "HTTP/1.1 abc""#)
        XCTAssertEqual(errorMessage([bytes("<html>")]),
                       #"gateway sent an invalid response: expected "HTTP/1.1 <status>", got "<html>""#)
        for bad in ["HTTP/2 200\r\n\r\n", "HTTP/1.2 200\r\n\r\n", "http/1.1 200\r\n\r\n", "HTTP/1.1  200\r\n\r\n",
                    "HTTP/1.1 20\r\n\r\n", "HTTP/1.1 2000\r\n\r\n", "HTTP/1.1 200X\r\n\r\n", " HTTP/1.1 200\r\n\r\n",
                    "\r\nHTTP/1.1 200\r\n\r\n", "HTTP/1.1\t200\r\n\r\n"] {
            XCTAssertEqual(errorMessage([bytes(bad)])?.hasPrefix(
                #"gateway sent an invalid response: expected "HTTP/1.1 <status>", got ""#), true, bad)
        }
    }

    func testStatusOutOfRange() {
        XCTAssertEqual(errorMessage([bytes("HTTP/1.1 600 Nope\r\n\r\n")]),
                       "gateway sent an invalid response: status 600 is not between 100 and 599")
        XCTAssertEqual(errorMessage([bytes("HTTP/1.1 099 Nope\r\n\r\n")]),
                       "gateway sent an invalid response: status 99 is not between 100 and 599")
        XCTAssertEqual(errorMessage([bytes("HTTP/1.1 000\r\n\r\n")]),
                       "gateway sent an invalid response: status 0 is not between 100 and 599")
    }

    func testOversizedHead() {
        let big = "HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "a", count: 20_000) + "\r\n\r\n"
        XCTAssertEqual(errorMessage([bytes(big)]),
                       "gateway sent an invalid response: response head larger than 16384 bytes")
        // Exactly at the limit is fine; one more byte is not.
        let exact = bytes("HTTP/1.1 200 OK\r\n\r\n")
        var atLimit = ResponseHeadParser(limit: exact.count)
        XCTAssertEqual((try? atLimit.feed(exact))?.consumed, exact.count)
        XCTAssertEqual(errorMessage([exact], limit: exact.count - 1),
                       "gateway sent an invalid response: response head larger than \(exact.count - 1) bytes")
        // Fed a byte at a time, the error comes at the limit, not later.
        var parser = ResponseHeadParser(limit: 64)
        var fed = 0
        do {
            for byte in bytes(big) {
                fed += 1
                _ = try parser.feed([byte])
            }
            XCTFail("no error")
        } catch {
            XCTAssertEqual(fed, 65)
        }
    }

    func testTooManyHeaders() {
        let lines = (0..<101).map { "X-H\($0): v\r\n" }.joined()
        XCTAssertEqual(errorMessage([bytes("HTTP/1.1 200 OK\r\n" + lines + "\r\n")]),
                       "gateway sent an invalid response: more than 100 header lines")
        let ok = (0..<100).map { "X-H\($0): v\r\n" }.joined()
        XCTAssertNil(errorMessage([bytes("HTTP/1.1 200 OK\r\n" + ok + "\r\n")]))
    }

    func testMalformedHeaderLines() {
        for bad in ["NoColon", ": empty-name", "Bad Name: v", "Name : v", " folded: v", "\tX: v", "X(y): v"] {
            let message = errorMessage([bytes("HTTP/1.1 200 OK\r\n\(bad)\r\n\r\n")])
            XCTAssertEqual(message, "gateway sent an invalid response: malformed header line "
                           + PrintableText.quoted(bytes(bad)), bad)
        }
    }

    func testControlCharacters() {
        XCTAssertEqual(errorMessage([bytes("HTTP/1.1 200 OK\r\nX: a\u{1B}[31m\r\n\r\n")]),
                       "gateway sent an invalid response: control character 0x1B in the response head")
        XCTAssertEqual(errorMessage([bytes("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n")]),
                       "gateway sent an invalid response: control character 0x00 in the response head")
        XCTAssertEqual(errorMessage([bytes("HTTP/1.1 200 OK\rX: a\r\n\r\n")]),
                       "gateway sent an invalid response: carriage return not followed by line feed in the response head")
    }

    func testErrorIsSticky() {
        var parser = ResponseHeadParser()
        XCTAssertThrowsError(try parser.feed(bytes("nope")))
        XCTAssertThrowsError(try parser.feed(bytes("HTTP/1.1 200 OK\r\n\r\n"))) { error in
            XCTAssertEqual((error as? HTTPHeadError)?.message,
                           #"gateway sent an invalid response: expected "HTTP/1.1 <status>", got "nope""#)
        }
        XCTAssertEqual(parser.endOfInput().message,
                       #"gateway sent an invalid response: expected "HTTP/1.1 <status>", got "nope""#)
    }

    func testEarlyEndOfInput() throws {
        XCTAssertEqual(ResponseHeadParser().endOfInput().message,
                       "gateway closed the connection before sending a response")
        var parser = ResponseHeadParser()
        XCTAssertEqual(try parser.feed(bytes("HTTP/1.1 200 OK\r\n")), .needMore)
        XCTAssertEqual(parser.endOfInput().message,
                       "gateway closed the connection after 17 bytes, before the end of the response head")
    }

    /// Random bytes, random chunking: never a crash, never a head that lies
    /// about `consumed`.
    func testNeverCrashesOnRandomInput() {
        var rng = SplitMix(seed: 7)
        let pieces = ["HTTP/1.1 ", "200", " OK", "\r\n", "\n", "\r", "X: y", ":", " ", "\0", "\u{7F}", "é", "HTTP/1.0 "]
        for _ in 0..<5_000 {
            let input = rng.mix(of: pieces, parts: 12)
            var parser = ResponseHeadParser(limit: 48)
            for chunk in rng.chunks(of: input, longest: 5) {
                guard let step = try? parser.feed(chunk) else { break }
                if case .complete(let head, let consumed) = step {
                    XCTAssertTrue((1...chunk.count).contains(consumed))
                    XCTAssertTrue((100...599).contains(head.status))
                    break
                }
            }
            XCTAssertFalse(parser.endOfInput().message.contains { $0.isNewline })
        }
    }
}

extension HeadParseStep {
    /// consumed of a complete step, nil for needMore (test convenience).
    var consumed: Int? {
        if case .complete(_, let consumed) = self { return consumed }
        return nil
    }
}
