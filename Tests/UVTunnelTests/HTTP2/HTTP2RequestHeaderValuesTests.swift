import XCTest
@testable import UVTunnel

/// A connection's CONNECT header values are cleaned once and follow a new
/// token or user agent at once (a sign-in replaces the token mid-connection).
final class HTTP2RequestHeaderValuesTests: XCTestCase {
    func testValuesAreCleanedAndFollowANewToken() {
        var cache = HTTP2RequestHeaderValues()
        let first = cache.values(token: "aaa.bbb.ccc\r\n", userAgent: "uvtunnel/1\u{7}")
        XCTAssertEqual(first.authorization, "Pomerium aaa.bbb.ccc", "the token's visible ASCII only")
        XCTAssertEqual(first.userAgent, "uvtunnel/1")
        XCTAssertEqual(cache.values(token: "aaa.bbb.ccc\r\n", userAgent: "uvtunnel/1\u{7}").authorization, "Pomerium aaa.bbb.ccc")
        XCTAssertEqual(cache.values(token: "ddd.eee.fff", userAgent: "uvtunnel/1").authorization, "Pomerium ddd.eee.fff")
        XCTAssertNil(cache.values(token: nil, userAgent: "uvtunnel/1").authorization, "no token, no header")
        XCTAssertNil(cache.values(token: "", userAgent: "uvtunnel/1").authorization)
        XCTAssertEqual(cache.values(token: nil, userAgent: "other agent").userAgent, "other agent")
    }
}
