import XCTest
@testable import UVTunnel

/// NO_PROXY as curl and Go read it: each case names a host that must (or
/// must not) bypass the proxy, so a rule dropped or loosened fails here.
final class NoProxyListTests: XCTestCase {
    private func bypassed(_ list: String, _ host: String, _ port: UInt16 = 443) -> Bool {
        NoProxyList(list).bypasses(host: host, port: port)
    }

    func testEmptyListBypassesNothing() {
        XCTAssertFalse(bypassed("", "gw.example"))
        XCTAssertFalse(bypassed(" , ,", "gw.example"))
    }

    func testStarBypassesEverything() {
        XCTAssertTrue(bypassed("*", "gw.example"))
        XCTAssertTrue(bypassed("intranet, *", "10.1.2.3"))
        XCTAssertTrue(bypassed("*", "::1"))
    }

    func testExactHostAndItsSubdomainsButNotLookalikes() {
        XCTAssertTrue(bypassed("gw.example", "gw.example"))
        XCTAssertTrue(bypassed("corp.example", "gw.corp.example"))
        XCTAssertFalse(bypassed("corp.example", "badcorp.example"))
        XCTAssertFalse(bypassed("corp.example", "corp.example.org"))
        XCTAssertFalse(bypassed("gw.example", "other.example"))
    }

    func testLeadingDotAndStarDotMatchTheDomainAndBelow() {
        for entry in [".corp.example", "*.corp.example"] {
            XCTAssertTrue(bypassed(entry, "gw.corp.example"), entry)
            XCTAssertTrue(bypassed(entry, "a.b.corp.example"), entry)
            XCTAssertTrue(bypassed(entry, "corp.example"), entry)  // curl's reading
            XCTAssertFalse(bypassed(entry, "xcorp.example"), entry)
        }
    }

    func testCaseSpacesAndTrailingDotsDoNotMatter() {
        XCTAssertTrue(bypassed(" other.test ,  GW.Example. ", "gw.EXAMPLE"))
        XCTAssertTrue(bypassed("gw.example", "gw.example."))
        XCTAssertTrue(bypassed("a.test b.test", "b.test"), "spaces separate entries too")
    }

    func testPortEntriesMatchOnlyThatPort() {
        XCTAssertTrue(bypassed("gw.example:8443", "gw.example", 8443))
        XCTAssertFalse(bypassed("gw.example:8443", "gw.example", 443))
        XCTAssertTrue(bypassed("10.0.0.1:443", "10.0.0.1", 443))
        XCTAssertFalse(bypassed("10.0.0.1:443", "10.0.0.1", 80))
        XCTAssertTrue(bypassed("[::1]:8443", "::1", 8443))
        XCTAssertFalse(bypassed("[::1]:8443", "::1", 443))
    }

    func testIPLiteralsMatchOnlyThatAddress() {
        XCTAssertTrue(bypassed("127.0.0.1", "127.0.0.1"))
        XCTAssertFalse(bypassed("127.0.0.1", "127.0.0.2"))
        XCTAssertTrue(bypassed("::1", "::1"))
        XCTAssertTrue(bypassed("[::1]", "::1"))
        XCTAssertTrue(bypassed("2001:db8::1", "2001:0db8:0:0::1"), "compared as addresses, not text")
        // An address entry never matches a name, nor a name entry an address.
        XCTAssertFalse(bypassed("127.0.0.1", "localhost"))
        XCTAssertFalse(bypassed("0.0.1", "10.0.0.1"))
    }

    func testCIDRBlocks() {
        XCTAssertTrue(bypassed("10.0.0.0/8", "10.200.3.4"))
        XCTAssertFalse(bypassed("10.0.0.0/8", "11.0.0.1"))
        XCTAssertTrue(bypassed("192.168.4.0/22", "192.168.7.255"))
        XCTAssertFalse(bypassed("192.168.4.0/22", "192.168.8.0"))
        XCTAssertTrue(bypassed("0.0.0.0/0", "8.8.8.8"))
        XCTAssertTrue(bypassed("fd00::/8", "fd12:3456::1"))
        XCTAssertFalse(bypassed("fd00::/8", "fe80::1"))
        XCTAssertFalse(bypassed("10.0.0.0/8", "::ffff:10.0.0.1"), "families must agree")
        XCTAssertFalse(bypassed("10.0.0.0/8", "ten.example"), "names are not resolved")
    }

    func testUnreadableEntriesAreIgnoredNotFatal() {
        let list = NoProxyList("10.0.0.0/99, 1.2.3.4/x, a.test:99999, a*b.test, gw.example")
        XCTAssertEqual(list.rules.count, 1)
        XCTAssertTrue(list.bypasses(host: "gw.example", port: 443))
        XCTAssertFalse(list.bypasses(host: "a.test", port: 99))
    }
}
