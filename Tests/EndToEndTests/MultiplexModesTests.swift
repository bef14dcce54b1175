import Foundation
import XCTest

/// The rest of uvtunnel with `--multiplex` through the bundled gateway (it
/// serves HTTP/2 CONNECT): `--listen -`, exec mode, workers, the recheck, the
/// metrics endpoint and a SIGTERM drain keep working when tunnels are streams
/// on a shared HTTP/2 connection instead of TLS connections of their own.
final class MultiplexModesTests: XCTestCase {
    private func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// HTTP/2 connections the gateway served (one info line each).
    private func h2Connections(_ gateway: GatewayFixture) -> Int { count("HTTP/2 connection opened", in: gateway.process.stderr) }

    func testStdioModeCarriesOneStreamByteExact() throws {
        let greeting = Array("hello over a stream\n".utf8)
        let target = try TargetServer(.speakFirst(greeting))
        let gateway = try GatewayFixture()
        let args = ["--multiplex", "--listen", "-"] + TunnelFixture.arguments(gateway: gateway, targetPort: target.port,
                                                                              token: try gateway.token())
        let tunnel = try ChildProcess(Products.tunnel, args)
        let payload = randomBytes(300_000)
        let writer = tunnel.stdinPipe.fileHandleForWriting
        Thread {
            writer.write(Data(payload))
            try? writer.close()  // stdin EOF: END_STREAM toward the gateway
        }.start()
        XCTAssertEqual(tunnel.waitForExit(timeout: 30), 0, tunnel.stderr)
        XCTAssert(tunnel.stdoutBytes == greeting + payload, "stdout: \(tunnel.stdoutBytes.count) bytes; \(tunnel.stderr)")
        XCTAssertEqual(h2Connections(gateway), 1, gateway.process.stderr)
    }

    func testExecRunsTheClientOverAStream() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let dir = TemporaryDirectory()
        let token = try writeTokenFile(gateway, in: dir)
        // Three connections from the client: all three ride one HTTP/2 connection.
        let client = """
        import socket, sys
        host, port = sys.argv[1].rsplit(":", 1)
        ok = True
        for i in range(3):
            s = socket.create_connection((host, int(port))); s.sendall(b"exec %d" % i); s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(100): data += chunk
            ok = ok and data == b"exec %d" % i
        sys.exit(7 if ok else 1)
        """
        let process = try ChildProcess(Products.tunnel, ["exec", "--multiplex", "--pomerium-url", "https://127.0.0.1:\(gateway.port)",
                                                         "--alternate-ca-path", gateway.caPath, "--service-account-file", token,
                                                         "127.0.0.1:\(target.port)", "--", "python3", "-c", client, "{}"])
        XCTAssertEqual(process.waitForExit(timeout: 30), 7, process.stderr)
        XCTAssertEqual(target.acceptedCount, 3)
        XCTAssertEqual(h2Connections(gateway), 1, gateway.process.stderr)
    }

    func testTwoWorkersEachKeepTheirOwnConnection() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(["--multiplex", "--workers", "2"]
                                       + TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()))
        XCTAssertEqual(try parallelEchoFailures(port: tunnel.port, count: 200), [])
        XCTAssertEqual(target.acceptedCount, 200)
        for index in 0..<2 {
            tunnel.process.waitForOutput { $0.contains("worker=\(index) [UVTunnel] disconnected") }
        }
        // A worker is a process with its own loop: each opened its own
        // connection(s), none opened one per tunnel.
        let opened = h2Connections(gateway)
        XCTAssert((2...8).contains(opened), "\(opened) HTTP/2 connections for 200 tunnels on 2 workers")
        tunnel.process.signal(SIGTERM)
        XCTAssertEqual(tunnel.process.waitForExit(), 0, tunnel.process.stderr)
    }

    func testRecheckOverAStreamClosesTunnelsTheGatewayNoLongerAdmits() throws {
        let gateway = try checkRecheckClosesTunnelsWhenThePolicyChanges(extra: ["--multiplex"])
        // The probes were streams on the tunnel's connection, not connections of their own.
        XCTAssertEqual(h2Connections(gateway), 1, gateway.process.stderr)
    }

    func testMetricsShowTheConnectionAndItsStreams() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let metricsPort = try freeLoopbackPort()
        let tunnel = try TunnelFixture(["--multiplex"]
                                       + TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
                                       + ["--metrics-addr", "127.0.0.1:\(metricsPort)"])
        // Two tunnels held open while the metrics are read.
        let held = try (0..<2).map { index -> TestSocket in
            let socket = try TestSocket.connect(port: tunnel.port, timeout: 30)
            try socket.send([UInt8(index)])
            XCTAssertEqual(try socket.receive(exactly: 1), [UInt8(index)])
            return socket
        }
        let gatewayName = "https://127.0.0.1:\(gateway.port)"
        var text = try scrape(metricsPort)
        for line in ["uvtunnel_gateway_connections_open{gateway=\"\(gatewayName)\"} 1",
                     "uvtunnel_gateway_connection_streams{gateway=\"\(gatewayName)\",connection=\"h2-1\"} 2",
                     "uvtunnel_tunnels_open 2"] {
            XCTAssertTrue(text.contains(line), "missing \(line) in\n\(text)")
        }
        for socket in held { socket.shutdownWrite() }  // the echo target answers with its FIN: a complete tunnel
        tunnel.process.waitForOutput { self.count("disconnected", in: $0) >= 2 }
        text = try scrape(metricsPort)
        XCTAssertTrue(text.contains("uvtunnel_tunnels_total{outcome=\"completed\"} 2"), text)
        XCTAssertTrue(text.contains("uvtunnel_gateway_connection_streams{gateway=\"\(gatewayName)\",connection=\"h2-1\"} 0")
                      || !text.contains("uvtunnel_gateway_connection_streams{"), "streams left on the connection:\n\(text)")
    }

    func testSIGTERMDrainsOpenStreams() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(["--multiplex", "--drain-timeout", "20s"]
                                       + TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()))
        let socket = try TestSocket.connect(port: tunnel.port, timeout: 30)
        try socket.send([7])
        XCTAssertEqual(try socket.receive(exactly: 1), [7])
        tunnel.process.signal(SIGTERM)
        tunnel.process.waitForOutput { $0.contains("stopped accepting") }
        // The open stream still carries bytes during the drain.
        let payload = randomBytes(100_000)
        try socket.send(payload)
        XCTAssert(try socket.receive(exactly: payload.count) == payload, "bytes during the drain")
        socket.shutdownWrite()
        XCTAssertEqual(tunnel.process.waitForExit(timeout: 20), 0, tunnel.process.stderr)
        XCTAssertEqual(h2Connections(gateway), 1, gateway.process.stderr)
    }

    private func scrape(_ port: UInt16) throws -> String {
        let socket = try TestSocket.connect(port: port)
        try socket.send(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        return String(decoding: try socket.receiveAll(), as: UTF8.self)
    }
}
