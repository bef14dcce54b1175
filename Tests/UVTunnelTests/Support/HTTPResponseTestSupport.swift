import XCTest
@testable import UVTunnel

/// Reads back a complete response we built, with the client's own parsers, so
/// tests check what a real peer would see (framing included), not our strings.
struct ParsedResponse {
    var head: ResponseHead
    var body: [UInt8]
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    var text: String

    init(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws {
        text = String(decoding: bytes, as: UTF8.self)
        var parser = ResponseHeadParser()
        guard case .complete(let head, let consumed) = try parser.feed(bytes) else {
            XCTFail("response head incomplete", file: file, line: line)
            throw HTTPHeadError(message: "incomplete head")
        }
        var decoder = HTTPBodyDecoder(head: head)
        let rest = bytes[consumed...]
        let body: [UInt8]
        switch try decoder.feed(rest) {
        case .complete(let b): body = b
        case .needMore: body = try decoder.endOfInput()
        }
        // Self-delimiting: exactly Content-Length bytes follow the head.
        XCTAssertEqual(head.value(of: "Content-Length"), String(rest.count), file: file, line: line)
        XCTAssertEqual(body.count, rest.count, file: file, line: line)
        self.head = head
        self.body = body
    }
}
