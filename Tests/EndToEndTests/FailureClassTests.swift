import Foundation
import XCTest

/// Failures as types, seen from outside: each tunnel's end is counted under
/// its class in `uvtunnel_tunnels_total{outcome=…}`, and a failure's hint
/// names the option as the user wrote it (a config key, or a flag).
final class FailureClassTests: XCTestCase {
    func testMetricsCountClosesByClassAndHintsNameConfigKeys() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let stranger = try GatewayFixture()  // its CA does not sign `gateway`'s certificate
        let denying = try GatewayFixture(["--answer-status", "403"])
        let dir = TemporaryDirectory()
        let token = try writeTokenFile(gateway, in: dir)
        let closedPort = try freeLoopbackPort()
        let metricsPort = try freeLoopbackPort()
        let ports = try (0..<4).map { _ in try freeLoopbackPort() }
        func entry(_ port: UInt16, gatewayPort: UInt16, ca: String) -> String {
            """
            [[tunnel]]
            listen = "127.0.0.1:\(port)"
            route = "127.0.0.1:\(target.port)"
            pomerium-url = "https://127.0.0.1:\(gatewayPort)"
            alternate-ca-path = "\(ca)"

            """
        }
        let config = """
        service-account-file = "\(token)"
        metrics-addr = "127.0.0.1:\(metricsPort)"

        """ + entry(ports[0], gatewayPort: gateway.port, ca: gateway.caPath)
            + entry(ports[1], gatewayPort: gateway.port, ca: stranger.caPath)
            + entry(ports[2], gatewayPort: denying.port, ca: denying.caPath)
            + entry(ports[3], gatewayPort: closedPort, ca: gateway.caPath)
        let file = dir.path + "/uvtunnel.toml"
        try config.write(toFile: file, atomically: true, encoding: .utf8)
        let process = try ChildProcess(Products.tunnel, ["--config", file])
        process.waitForOutput { $0.components(separatedBy: "listening on").count == 5 }

        let payload = randomBytes(1000)
        XCTAssert(try echoRoundTrip(port: ports[0], payload: payload) == payload)
        for port in ports[1...] {
            let client = try TestSocket.connect(port: port)
            XCTAssertTrue(client.waitForClose(timeout: 20), "the tunnel on \(port) is closed")
        }
        process.waitForOutput { $0.components(separatedBy: "failed 127.0.0.1").count + $0.components(separatedBy: "refused 127.0.0.1").count == 5 }
        let log = process.stderr
        XCTAssertTrue(log.contains("certificate verify failed"), log)
        XCTAssertTrue(log.contains("alternate-ca-path = \"FILE\" in the config file"), "the hint names the config key:\n\(log)")
        XCTAssertFalse(log.contains("--alternate-ca-path"), "a config-file user never typed the flag:\n\(log)")
        XCTAssertTrue(log.contains("refused 127.0.0.1:\(target.port): 403 access denied by gateway policy"), log)
        XCTAssertTrue(log.contains("cannot reach gateway 127.0.0.1:\(closedPort)"), log)

        var text = ""
        let wanted = ["completed": 1, "tls_verify": 1, "denied": 1, "connect": 1, "timeout": 0, "sign_in": 0]
        let deadline = Date().addingTimeInterval(20)
        repeat {
            text = try scrape(metricsPort)
            // The echo's tunnel may log its close a moment after the client saw EOF.
        } while !wanted.allSatisfy({ text.contains("uvtunnel_tunnels_total{outcome=\"\($0.key)\"} \($0.value)\n") }) && Date() < deadline
        for (outcome, count) in wanted {
            XCTAssertTrue(text.contains("uvtunnel_tunnels_total{outcome=\"\(outcome)\"} \(count)\n"), "\(outcome) \(count) in\n\(text)")
        }
    }

    func testConnectTimeoutHintNamesTheFlagOnTheCommandLine() throws {
        let rig = try FaultRig()
        let peer = try HostilePeer.gateway("trickle", certificateFrom: rig.gateway)
        rig.keep(peer)
        let tunnel = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(peer.port)", "--alternate-ca-path", rig.gateway.caPath,
                                        "--service-account", try rig.gateway.token(), "--connect-timeout", "1", "127.0.0.1:9"])
        let client = try TestSocket.connect(port: tunnel.port)
        XCTAssertTrue(client.waitForClose(timeout: 20))
        tunnel.process.waitForOutput { $0.contains("timed out after 1.0s") }
        XCTAssertTrue(tunnel.process.stderr.contains("(raise --connect-timeout)"), tunnel.process.stderr)
    }

    private func scrape(_ port: UInt16) throws -> String {
        let socket = try TestSocket.connect(port: port)
        try socket.send(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        return String(decoding: try socket.receiveAll(), as: UTF8.self)
    }
}
