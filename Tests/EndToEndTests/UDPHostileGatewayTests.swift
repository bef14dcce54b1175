import Foundation
import XCTest

/// `uvtunnel udp` against a gateway that answers connect-udp with a 101 and
/// then a broken capsule stream: each session ends with one line naming the
/// fault, the process stays up, and a capsule stream with types uvtunnel
/// does not know still carries the datagrams around them.
final class UDPHostileGatewayTests: XCTestCase {
    private func tunnel(to peer: HostilePeer, _ gateway: GatewayFixture) throws -> (ChildProcess, UInt16) {
        let process = try ChildProcess(Products.tunnel, ["udp", "--listen", "127.0.0.1:0", "--pomerium-url", "https://127.0.0.1:\(peer.port)",
                                                         "--alternate-ca-path", gateway.caPath, "--service-account", "test-token",
                                                         "127.0.0.1:9"])
        return (process, try XCTUnwrap(process.listeningPort(), process.stderr))
    }

    /// One datagram into a session with `mode`'s gateway: the session's one
    /// line must contain `expected`, and the process stays up for the next one.
    private func check(_ mode: String, endsWith expected: String, level: String = "warning", file: StaticString = #filePath, line: UInt = #line) throws {
        let gateway = try GatewayFixture()
        let peer = try HostilePeer.gateway(mode, certificateFrom: gateway)
        let (process, port) = try tunnel(to: peer, gateway)
        defer { process.stop() }
        XCTAssertEqual(try udpExchange(port: port, sizes: [20], wait: 2), ["20 timed out"], file: file, line: line)
        process.waitForOutput(file: file, line: line) { $0.contains(expected) }
        let lines = process.stderr.split(separator: "\n").filter { $0.contains("127.0.0.1:9") && !$0.contains(" debug ") && !$0.contains("listening") }
        XCTAssertEqual(lines.count, 1, "one line for the session: \(process.stderr)", file: file, line: line)
        XCTAssertTrue(lines.first?.contains(" \(level) ") ?? false, "at \(level): \(lines)", file: file, line: line)
        // A second client gets a session of its own: the process is still serving.
        XCTAssertEqual(try udpExchange(port: port, sizes: [21], wait: 2), ["21 timed out"], file: file, line: line)
        process.waitForOutput(file: file, line: line) { $0.components(separatedBy: expected).count == 3 }
        XCTAssertNil(process.waitForExit(timeout: 0.2), "uvtunnel exited: \(process.stderr)", file: file, line: line)
    }

    func testHugeLengthEndsTheSession() throws {
        try check("udp-huge-length", endsWith: "capsule stream: capsule of 4611686018427387903 bytes, over the 65543-byte limit")
    }

    func testContextIDCutShortEndsTheSession() throws {
        try check("udp-bad-varint", endsWith: "capsule stream: DATAGRAM capsule without a whole context id")
    }

    func testStreamEndingInsideAVarintEndsTheSession() throws {
        try check("udp-cut-varint", endsWith: "the gateway ended the capsule stream inside a capsule")
    }

    func testCloseRightAfter101EndsTheSessionCleanly() throws {
        try check("udp-close-after-101", endsWith: "disconnected 127.0.0.1:9", level: "info")
    }

    func testUnknownCapsuleTypesAndOtherContextsAreSkipped() throws {
        let gateway = try GatewayFixture()
        let peer = try HostilePeer.gateway("udp-unknown-types", certificateFrom: gateway)
        let (process, port) = try tunnel(to: peer, gateway)
        defer { process.stop() }
        XCTAssertEqual(try udpExchange(port: port, sizes: [1, 1_200, 9_000]), ["1 ok", "1200 ok", "9000 ok"], process.stderr)
        XCTAssertNil(process.waitForExit(timeout: 0.2), process.stderr)
        XCTAssertFalse(process.stderr.contains("capsule stream:"), process.stderr)
    }
}
