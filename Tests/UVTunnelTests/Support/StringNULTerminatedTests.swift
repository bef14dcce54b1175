import XCTest
@testable import UVTunnel

final class StringNULTerminatedTests: XCTestCase {
    func testTextEndsAtTheFirstNULOrTheBuffer() {
        XCTAssertEqual(String(nulTerminated: [0x3A, 0x3A, 0x31, 0, 0x39, 0]), "::1")
        XCTAssertEqual(String(nulTerminated: [0x61, 0x62]), "ab", "no NUL: the whole buffer")
        XCTAssertEqual(String(nulTerminated: [0, 0x61]), "")
        XCTAssertEqual(String(nulTerminated: []), "")
        XCTAssertEqual(String(nulTerminated: [-61, -87, 0]), "é", "bytes above 0x7F as UTF-8")
    }

    /// What it is for: the text a C function wrote into the buffer.
    func testReadsWhatInetNtopWrote() {
        var address = in6_addr()
        XCTAssertEqual(inet_pton(AF_INET6, "2001:db8::7", &address), 1)
        var text = [CChar](repeating: 0x58, count: Int(INET6_ADDRSTRLEN))  // 'X' everywhere the call leaves
        XCTAssertNotNil(inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)))
        XCTAssertEqual(String(nulTerminated: text), "2001:db8::7")
    }
}
