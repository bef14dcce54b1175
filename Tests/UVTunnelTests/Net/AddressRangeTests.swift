import XCTest
@testable import UVTunnel

/// `--allow-from` networks: parsing (strict, with messages that say what was
/// meant) and matching client addresses, IPv4 and IPv6.
final class AddressRangeTests: XCTestCase {
    private func address(_ ip: String) throws -> SocketAddress { try SocketAddress(ip: ip, port: 40_000) }

    private func contains(_ range: String, _ ip: String) throws -> Bool {
        try AddressRange.parse(range).contains(address(ip))
    }

    func testIPv4Networks() throws {
        XCTAssertTrue(try contains("10.0.0.0/8", "10.255.3.4"))
        XCTAssertFalse(try contains("10.0.0.0/8", "11.0.0.0"))
        XCTAssertTrue(try contains("192.168.1.0/24", "192.168.1.255"))
        XCTAssertFalse(try contains("192.168.1.0/24", "192.168.2.0"))
        // A prefix that is not a byte boundary.
        XCTAssertTrue(try contains("172.16.0.0/12", "172.31.255.255"))
        XCTAssertFalse(try contains("172.16.0.0/12", "172.32.0.0"))
        XCTAssertTrue(try contains("127.0.0.2/31", "127.0.0.3"))
        XCTAssertFalse(try contains("127.0.0.2/31", "127.0.0.1"))
    }

    func testSingleAddressesAndTheExtremes() throws {
        XCTAssertTrue(try contains("127.0.0.2", "127.0.0.2"))
        XCTAssertFalse(try contains("127.0.0.2", "127.0.0.1"))
        XCTAssertTrue(try contains("127.0.0.2/32", "127.0.0.2"))
        XCTAssertTrue(try contains("0.0.0.0/0", "203.0.113.9"))
        XCTAssertTrue(try contains("::/0", "2001:db8::1"))
        XCTAssertEqual(try AddressRange.parse("127.0.0.2").prefixLength, 32)
        XCTAssertEqual(try AddressRange.parse("::1").prefixLength, 128)
    }

    func testIPv6Networks() throws {
        XCTAssertTrue(try contains("::1/128", "::1"))
        XCTAssertFalse(try contains("::1/128", "::2"))
        XCTAssertTrue(try contains("fd00::/8", "fdab:1234::9"))
        XCTAssertFalse(try contains("fd00::/8", "fe80::1"))
        XCTAssertTrue(try contains("2001:db8::/33", "2001:db8:7fff::1"))
        XCTAssertFalse(try contains("2001:db8::/33", "2001:db8:8000::1"))
    }

    func testFamiliesDoNotMixExceptForMappedIPv4() throws {
        XCTAssertFalse(try contains("0.0.0.0/0", "::1"))
        XCTAssertFalse(try contains("::/0", "127.0.0.1"))
        // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d.
        XCTAssertTrue(try contains("10.0.0.0/8", "::ffff:10.1.2.3"))
        XCTAssertFalse(try contains("10.0.0.0/8", "::ffff:11.1.2.3"))
        XCTAssertTrue(try contains("::ffff:0:0/96", "::ffff:10.1.2.3"))
    }

    func testListsAllowSpacesAndAnyMatchAdmits() throws {
        let ranges = try AddressRange.parseList("10.0.0.0/8, 192.168.1.7 ,fd00::/8")
        XCTAssertEqual(ranges.map(\.description), ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"])
        XCTAssertTrue(ranges.contains { $0.contains(try! self.address("192.168.1.7")) })
        XCTAssertFalse(ranges.contains { $0.contains(try! self.address("192.168.1.8")) })
    }

    func testMistakesAreRefusedWithAUsefulMessage() {
        let cases: [(String, String)] = [
            ("", "not an IP address"),
            ("db.corp", "not an IP address"),
            ("10.1", "not an IP address"),
            ("10.0.0.0/33", "prefix length must be 0-32"),
            ("::/129", "prefix length must be 0-128"),
            ("10.0.0.0/", "prefix length"),
            ("10.0.0.0/+8", "prefix length"),
            ("10.0.0.0/8/8", "prefix length"),
            ("192.168.1.10/24", "did you mean 192.168.1.0/24?"),
            ("fd00::1/8", "did you mean fd00::/8?"),
        ]
        for (text, words) in cases {
            XCTAssertThrowsError(try AddressRange.parse(text), text) { error in
                XCTAssertTrue(String(describing: error).contains(words), "\(text): \(error)")
            }
        }
        XCTAssertThrowsError(try AddressRange.parseList("10.0.0.0/8,,::1")) { error in
            XCTAssertTrue(String(describing: error).contains("empty entry"), "\(error)")
        }
    }

    func testConfigKeyTakesAStringOrAnArray() throws {
        let text = """
        pomerium-url = "https://gw.example"
        [[tunnel]]
        listen = "0.0.0.0:3389"
        route = "rdp:3389"
        allow-from = "10.0.0.0/8,::1"
        [[tunnel]]
        listen = "0.0.0.0:22"
        route = "ssh:22"
        allow-from = ["192.168.0.0/16", "fd00::/8"]
        """
        let config = try TunnelConfigFile.parse(text)
        XCTAssertEqual(try config.tunnels[0].allowedClients().map(\.description), ["10.0.0.0/8", "::1/128"])
        XCTAssertEqual(try config.tunnels[1].allowedClients().map(\.description), ["192.168.0.0/16", "fd00::/8"])
        XCTAssertThrowsError(try TunnelConfigFile.parse("[[tunnel]]\nlisten = \":1\"\nroute = \"a:1\"\nallow-from = \"10.0.0.1/8\"\n")) { error in
            XCTAssertEqual((error as? ConfigError)?.line, 1, "the tunnel's line")
            XCTAssertTrue(String(describing: error).contains("allow-from: \"10.0.0.1/8\" has bits set"), "\(error)")
        }
        XCTAssertThrowsError(try TunnelConfigFile.parse("[[tunnel]]\nlisten = \":1\"\nroute = \"a:1\"\nallow-from = [1]\n")) { error in
            XCTAssertEqual((error as? ConfigError)?.line, 4)
        }
    }
}
