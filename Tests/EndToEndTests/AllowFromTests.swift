import Foundation
import XCTest

/// `--allow-from CIDR[,CIDR]`: a local client whose address is outside the
/// networks is closed at once, with a line, and never reaches the gateway.
/// Linux routes all of 127/8 to loopback, so a client bound to 127.0.0.2 is a
/// second, distinct source address on the same machine.
final class AllowFromTests: XCTestCase {
    func testClientOutsideTheNetworksIsClosedAtOnceAndOneInsideIsServed() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
                                       + ["--allow-from", "127.0.0.2/32"])
        let stranger = try TestSocket.connect(port: tunnel.port, from: "127.0.0.1")
        try? stranger.send(Array("let me in".utf8))  // may already be closed: that is the point
        let started = Date()
        XCTAssertTrue(stranger.waitForClose(timeout: 5))
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "closed at once, not after a timeout")
        tunnel.process.waitForOutput { $0.contains("refused local client 127.0.0.1:") && $0.contains("not in --allow-from 127.0.0.2/32") }
        XCTAssertEqual(target.acceptedCount, 0, "the refused client reached the target")
        XCTAssertFalse(gateway.process.stderr.contains("answered"), "the refused client reached the gateway")

        let member = try TestSocket.connect(port: tunnel.port, from: "127.0.0.2", timeout: 30)
        let payload = randomBytes(30_000)
        try member.send(payload)
        member.shutdownWrite()
        XCTAssert(try member.receiveAll() == payload, "a client from 127.0.0.2 is carried")
    }

    func testWiderNetworkAdmitsTheClient() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
                                       + ["--allow-from", "fd00::/8, 127.0.0.0/8"])
        let payload = randomBytes(30_000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload)
        XCTAssertFalse(tunnel.process.stderr.contains("refused local client"))
    }

    func testIPv6ListenerChecksIPv6Clients() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let base = TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
        let admitted = try ChildProcess(Products.tunnel, ["--listen", "[::1]:0", "--allow-from", "::1/128"] + base)
        let refused = try ChildProcess(Products.tunnel, ["--listen", "[::1]:0", "--allow-from", "fd00::/8"] + base)
        let ports = try [admitted, refused].map { try XCTUnwrap($0.listeningPort()) }
        // python3 as the IPv6 client: prints what came back, or "closed" if nothing
        // did. A refused client may be reset at any step, even before its shutdown.
        let client = """
        import socket, sys
        s = socket.create_connection(("::1", int(sys.argv[1])), timeout=20)
        data = b""
        try:
            s.sendall(b"over ipv6"); s.shutdown(socket.SHUT_WR)
            while chunk := s.recv(100): data += chunk
        except OSError: pass
        print(data.decode() or "closed")
        """
        for (port, expected) in zip(ports, ["over ipv6", "closed"]) {
            let run = try ChildProcess("/usr/bin/env", ["python3", "-c", client, String(port)])
            XCTAssertEqual(run.waitForExit(timeout: 30), 0, run.stderr)
            XCTAssertEqual(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines), expected)
        }
        refused.waitForOutput { $0.contains("refused local client [::1]:") && $0.contains("not in --allow-from fd00::/8") }
    }

    func testBadNetworkIsAUsageError() throws {
        let process = try ChildProcess(Products.tunnel, ["--allow-from", "10.0.0.1/8", "db.example:5432"])
        XCTAssertEqual(process.waitForExit(), 2)
        XCTAssertTrue(process.stderr.contains("--allow-from: \"10.0.0.1/8\" has bits set after the first 8; did you mean 10.0.0.0/8?"), process.stderr)
    }
}
