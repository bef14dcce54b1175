import XCTest
@testable import UVTunnel

final class HTTPBodyDecoderTests: XCTestCase {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    private func head(_ status: Int = 200, _ headers: [(String, String)] = []) -> ResponseHead {
        ResponseHead(status: status, reason: "", headers: headers.map { HTTPHeader(name: $0.0, value: $0.1) })
    }

    /// Feeds `chunks` in order; the body at completion, or at end of input.
    private func decode(_ head: ResponseHead, _ chunks: [[UInt8]], limit: Int = 64 * 1024,
                        file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
        var decoder = HTTPBodyDecoder(head: head, limit: limit)
        for chunk in chunks {
            if case .complete(let body) = try decoder.feed(chunk) { return body }
        }
        return try decoder.endOfInput()
    }

    private func errorMessage(_ head: ResponseHead, _ chunks: [[UInt8]], limit: Int = 64 * 1024) -> String? {
        do {
            _ = try decode(head, chunks, limit: limit)
            return nil
        } catch let error as HTTPHeadError {
            return error.message
        } catch {
            return "unexpected \(error)"
        }
    }

    private func byteByByte(_ data: [UInt8]) -> [[UInt8]] { data.map { [$0] } }

    // MARK: - Content-Length

    func testContentLengthWholeAndByteByByte() throws {
        let h = head(200, [("Content-Length", "11")])
        XCTAssertEqual(try decode(h, [bytes("https://x/y")]), bytes("https://x/y"))
        XCTAssertEqual(try decode(h, byteByByte(bytes("https://x/y"))), bytes("https://x/y"))
        var decoder = HTTPBodyDecoder(head: h)
        XCTAssertEqual(decoder.framing, .length(11))
        for byte in bytes("https://x/") { XCTAssertEqual(try decoder.feed([byte]), .needMore) }
        XCTAssertEqual(try decoder.feed(bytes("y")), .complete(body: bytes("https://x/y")))
        // Completion is sticky and takes nothing more.
        XCTAssertEqual(try decoder.feed(bytes("zzz")), .complete(body: bytes("https://x/y")))
        XCTAssertEqual(try decoder.endOfInput(), bytes("https://x/y"))
    }

    func testBytesAfterTheBodyAreIgnored() throws {
        XCTAssertEqual(try decode(head(200, [("Content-Length", "3")]), [bytes("abcHTTP/1.1 200")]), bytes("abc"))
    }

    func testZeroLengthCompletesWithoutBytes() throws {
        var decoder = HTTPBodyDecoder(head: head(200, [("content-length", "0")]))
        XCTAssertEqual(try decoder.feed([UInt8]()), .complete(body: []))
        XCTAssertEqual(try decoder.endOfInput(), [])
    }

    func testEqualRepeatedLengthsAccepted() throws {
        XCTAssertEqual(try decode(head(200, [("Content-Length", "2, 2")]), [bytes("ok")]), bytes("ok"))
        XCTAssertEqual(try decode(head(200, [("Content-Length", "2"), ("Content-Length", " 2 ")]), [bytes("ok")]), bytes("ok"))
    }

    func testBadContentLengths() {
        for value in ["abc", "-1", "+5", "1.0", "", " ", "0x10", "1 2", "9999999999999999999999"] {
            let message = errorMessage(head(200, [("Content-Length", value)]), [bytes("x")])
            XCTAssertEqual(message, "invalid Content-Length \(PrintableText.quoted(value))", value)
        }
        XCTAssertEqual(errorMessage(head(200, [("Content-Length", "1, 2")]), [bytes("x")]),
                       "conflicting Content-Length values 1 and 2")
        XCTAssertEqual(errorMessage(head(200, [("Content-Length", "3"), ("Content-Length", "4")]), [bytes("x")]),
                       "conflicting Content-Length values 3 and 4")
    }

    func testContentLengthOverLimitFailsBeforeAnyBody() {
        XCTAssertEqual(errorMessage(head(200, [("Content-Length", "101")]), [[]], limit: 100),
                       "response body larger than 100 bytes (Content-Length: 101)")
        XCTAssertNil(errorMessage(head(200, [("Content-Length", "100")]), [Array(repeating: 65, count: 100)], limit: 100))
    }

    func testTruncatedLengthBody() {
        XCTAssertEqual(errorMessage(head(200, [("Content-Length", "10")]), [bytes("abc")]),
                       "response body truncated: connection closed after 3 of 10 bytes")
        XCTAssertEqual(errorMessage(head(200, [("Content-Length", "10")]), []),
                       "response body truncated: connection closed after 0 of 10 bytes")
    }

    // MARK: - No body

    func testStatusesWithoutBody() throws {
        for status in [100, 101, 199, 204, 304] {
            var decoder = HTTPBodyDecoder(head: head(status, [("Content-Length", "10"), ("Transfer-Encoding", "chunked")]))
            XCTAssertEqual(decoder.framing, .empty, "\(status)")
            XCTAssertEqual(try decoder.feed(bytes("0123456789")), .complete(body: []), "\(status)")
            XCTAssertEqual(try decoder.endOfInput(), [])
        }
        XCTAssertEqual(HTTPBodyDecoder(head: head(200, [("Content-Length", "1")])).framing, .length(1))
    }

    // MARK: - Until EOF

    func testUntilEndOfInput() throws {
        var decoder = HTTPBodyDecoder(head: head(200, [("Content-Type", "text/plain")]))
        XCTAssertEqual(decoder.framing, .untilEOF)
        XCTAssertEqual(try decoder.feed(bytes("https://")), .needMore)
        XCTAssertEqual(try decoder.feed([UInt8]()), .needMore)
        XCTAssertEqual(try decoder.feed(bytes("auth/x")), .needMore)
        XCTAssertEqual(try decoder.endOfInput(), bytes("https://auth/x"))
        XCTAssertEqual(try decode(head(), []), [])
    }

    func testUntilEndOfInputLimit() {
        XCTAssertNil(errorMessage(head(), [Array(repeating: 1, count: 60), Array(repeating: 1, count: 40)], limit: 100))
        XCTAssertEqual(errorMessage(head(), [Array(repeating: 1, count: 60), Array(repeating: 1, count: 41)], limit: 100),
                       "response body larger than 100 bytes")
    }

    // MARK: - Chunked

    private let wiki = "4\r\nWiki\r\n5;name=value;flag\r\npedia\r\nE ; ext\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-Other: 1\r\n\r\n"

    func testChunkedWholeAndByteByByte() throws {
        let h = head(200, [("Transfer-Encoding", "chunked")])
        XCTAssertEqual(HTTPBodyDecoder(head: h).framing, .chunked)
        XCTAssertEqual(try decode(h, [bytes(wiki)]), bytes("Wikipedia in\r\n\r\nchunks."))
        XCTAssertEqual(try decode(h, byteByByte(bytes(wiki))), bytes("Wikipedia in\r\n\r\nchunks."))
    }

    func testChunkedSplitAtEveryOffset() throws {
        let h = head(200, [("Transfer-Encoding", "chunked")])
        let data = bytes(wiki)
        for cut in 0...data.count {
            var decoder = HTTPBodyDecoder(head: h)
            let first = try decoder.feed(data[..<cut])
            if cut < data.count {
                XCTAssertEqual(first, .needMore, "cut \(cut)")
                XCTAssertEqual(try decoder.feed(data[cut...]), .complete(body: bytes("Wikipedia in\r\n\r\nchunks.")), "cut \(cut)")
            } else {
                XCTAssertEqual(first, .complete(body: bytes("Wikipedia in\r\n\r\nchunks.")))
            }
        }
    }

    func testChunkedToleratesCaseLeadingZerosBareLFAndNoTrailers() throws {
        let h = head(200, [("transfer-encoding", " Chunked ")])
        XCTAssertEqual(try decode(h, [bytes("000A\r\n0123456789\r\n0\r\n\r\n")]), bytes("0123456789"))
        XCTAssertEqual(try decode(h, [bytes("a\n0123456789\n0\n\n")]), bytes("0123456789"))
        XCTAssertEqual(try decode(h, [bytes("0\r\n\r\n")]), [])
    }

    func testTransferEncodingOverridesContentLength() throws {
        let h = head(200, [("Content-Length", "2"), ("Transfer-Encoding", "chunked")])
        XCTAssertEqual(try decode(h, [bytes("3\r\nabc\r\n0\r\n\r\n")]), bytes("abc"))
    }

    func testUnsupportedTransferCodings() {
        for value in ["gzip", "gzip, chunked", "chunked, gzip", "identity"] {
            let message = errorMessage(head(200, [("Transfer-Encoding", value)]), [bytes("x")])
            XCTAssertEqual(message?.hasPrefix("unsupported Transfer-Encoding "), true, value)
            XCTAssertEqual(message?.hasSuffix("; only chunked is accepted"), true, value)
        }
    }

    func testTruncatedChunkedBodyAtEveryPrefix() {
        let h = head(200, [("Transfer-Encoding", "chunked")])
        let data = bytes(wiki)
        for cut in 0..<data.count {
            let message = errorMessage(h, [Array(data[..<cut])])
            XCTAssertEqual(message?.hasPrefix("response body truncated: connection closed before the last chunk"), true, "cut \(cut)")
        }
    }

    func testChunkedLimit() {
        let h = head(200, [("Transfer-Encoding", "chunked")])
        let fits = bytes("32\r\n") + Array(repeating: 65, count: 50) + bytes("\r\n32\r\n") + Array(repeating: 66, count: 50) + bytes("\r\n0\r\n\r\n")
        XCTAssertNil(errorMessage(h, [fits], limit: 100))
        // The second chunk's size alone pushes past the limit: refused before its data.
        let over = bytes("32\r\n") + Array(repeating: 65, count: 50) + bytes("\r\n33\r\n")
        XCTAssertEqual(errorMessage(h, [over], limit: 100), "response body larger than 100 bytes")
        XCTAssertEqual(errorMessage(h, [bytes("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF\r\n")]), "response body larger than 65536 bytes")
        // With no practical limit, the largest Int is a valid size and one more digit
        // is refused rather than overflowing.
        XCTAssertEqual(errorMessage(h, [bytes("FFFFFFFFFFFFFFFF\r\n")], limit: Int.max), "response body larger than \(Int.max) bytes")
        XCTAssertEqual(errorMessage(h, [bytes("7FFFFFFFFFFFFFFF\r\nabc")], limit: Int.max),
                       "response body truncated: connection closed before the last chunk (3 bytes decoded)")
        XCTAssertEqual(errorMessage(h, [bytes("1\r\n")], limit: 0), "response body larger than 0 bytes")
    }

    func testMalformedChunked() {
        let h = head(200, [("Transfer-Encoding", "chunked")])
        XCTAssertEqual(errorMessage(h, [bytes("zz\r\n")]), "invalid chunked body: bad chunk size line \"zz\"")
        XCTAssertEqual(errorMessage(h, [bytes("\r\n")]), "invalid chunked body: bad chunk size line \"\"")
        XCTAssertEqual(errorMessage(h, [bytes("4x\r\n")]), "invalid chunked body: bad chunk size line \"4x\"")
        XCTAssertEqual(errorMessage(h, [bytes("-4\r\n")]), "invalid chunked body: bad chunk size line \"-4\"")
        XCTAssertEqual(errorMessage(h, [bytes("4\r\nWikiXX")]), "invalid chunked body: chunk data not followed by CRLF")
        XCTAssertEqual(errorMessage(h, [bytes("4\r\nWiki\r\r")]), "invalid chunked body: chunk data not followed by CRLF")
        XCTAssertEqual(errorMessage(h, [bytes("4\r\u{1}")]), "invalid chunked body: carriage return not followed by line feed in the chunk size line")
        XCTAssertEqual(errorMessage(h, [bytes("4;\u{0}\r\n")]), "invalid chunked body: control character 0x00 in the chunk size line")
        let longExtension = bytes("4;") + Array(repeating: UInt8(ascii: "x"), count: 5000)
        XCTAssertEqual(errorMessage(h, [longExtension]), "invalid chunked body: chunk size line longer than 4096 bytes")
        let longTrailer = bytes("0\r\nX: ") + Array(repeating: UInt8(ascii: "y"), count: 9000)
        XCTAssertEqual(errorMessage(h, [longTrailer]), "invalid chunked body: trailer section longer than 8192 bytes")
    }

    func testErrorsAreSticky() {
        var decoder = HTTPBodyDecoder(head: head(200, [("Transfer-Encoding", "chunked")]))
        XCTAssertThrowsError(try decoder.feed(bytes("zz\r\n")))
        XCTAssertThrowsError(try decoder.feed(bytes("0\r\n\r\n")))
        XCTAssertThrowsError(try decoder.endOfInput())
        var bad = HTTPBodyDecoder(head: head(200, [("Content-Length", "x")]))
        XCTAssertNil(bad.framing)
        XCTAssertThrowsError(try bad.feed([UInt8]()))
        XCTAssertThrowsError(try bad.endOfInput())
    }

    /// Random framing bytes in random chunks: always an answer, never a
    /// crash, never a body over the limit, messages on one line.
    func testNeverCrashesOnRandomInput() {
        var rng = SplitMix(seed: 2024)
        let pieces = ["0", "1", "a", "F", "10", "\r\n", "\n", "\r", ";x=y", " ", "X: y", "\0", "é", "FFFFFFFF"]
        let heads = [head(200, [("Transfer-Encoding", "chunked")]), head(200, [("Content-Length", "7")]), head()]
        for round in 0..<5_000 {
            let input = rng.mix(of: pieces, parts: 16)
            var decoder = HTTPBodyDecoder(head: heads[round % heads.count], limit: 32)
            var failed = false
            for chunk in rng.chunks(of: input, longest: 6) {
                do {
                    if case .complete(let body) = try decoder.feed(chunk) {
                        XCTAssertLessThanOrEqual(body.count, 32)
                        break
                    }
                } catch {
                    XCTAssertFalse(error.message.contains { $0.isNewline })
                    failed = true
                    break
                }
            }
            if !failed, let body = try? decoder.endOfInput() {
                XCTAssertLessThanOrEqual(body.count, 32)
            }
        }
    }
}
