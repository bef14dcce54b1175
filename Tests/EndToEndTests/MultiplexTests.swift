import Foundation
import XCTest

/// `--multiplex` against a real HTTP/2 CONNECT proxy (nghttpx in front of
/// squid), and its fallback to HTTP/1.1 against the bundled gateway run with
/// `--no-http2` (it offers only http/1.1 then). squid does not carry half-close, so bytes are
/// checked by echo, not by EOF.
final class MultiplexTests: XCTestCase {
    private var certificates: GatewayFixture!
    private var squid: EgressSquid!
    private var proxy: NghttpxProxy!

    override func setUpWithError() throws {
        // Borrow the bundled gateway's generated certificate for nghttpx's TLS listener.
        certificates = try GatewayFixture()
        certificates.process.stop()
        squid = try EgressSquid()
        proxy = try NghttpxProxy(certificate: certificates.state.path + "/tls-cert.pem",
                                 key: certificates.state.path + "/tls-key.pem", backend: squid)
    }

    override func tearDown() {
        proxy?.stop()
        squid?.stop()
    }

    private func multiplexedTunnel(to target: UInt16, extra: [String] = []) throws -> TunnelFixture {
        try TunnelFixture(["--multiplex", "--pomerium-url", "https://127.0.0.1:\(proxy.port)",
                           "--alternate-ca-path", certificates.caPath, "--service-account", "any.token.value"]
                          + extra + ["127.0.0.1:\(target)"])
    }

    private func connectionsOpened(_ tunnel: TunnelFixture) -> Int {
        tunnel.process.stderr.components(separatedBy: "opened HTTP/2 connection").count - 1
    }

    func testBulkBothWaysIsByteExactOverOneStream() throws {
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try multiplexedTunnel(to: target.port)
        let socket = try TestSocket.connect(port: tunnel.port, timeout: 60)
        let payload = randomBytes(8 << 20)
        Thread { try? socket.send(payload) }.start()
        let echoed = try socket.receive(exactly: payload.count)
        XCTAssert(echoed == payload, "bytes through nghttpx over HTTP/2 differ")
        XCTAssertEqual(connectionsOpened(tunnel), 1, tunnel.process.stderr)
        // The tunnel's lines name its connection and stream.
        tunnel.process.waitForOutput { $0.contains("connection=h2-1 stream=1 tunnel=1 [UVTunnel] connected") }
    }

    /// Two routes of a --config file to the same gateway share its HTTP/2
    /// connection: one connection carries both routes' tunnels.
    func testRoutesToTheSameGatewayShareOneConnection() throws {
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try TwoRouteConfigTunnel(gateway: """
            pomerium-url = "https://127.0.0.1:\(proxy.port)"
            alternate-ca-path = "\(certificates.caPath)"
            service-account = "any.token.value"
            """, defaults: "multiplex = true", targetPort: target.port)
        let (ports, process) = (tunnel.ports, tunnel.process)
        defer { withExtendedLifetime(tunnel) {} }  // its end stops the process and removes the file
        // Echo checked by length, not EOF: nghttpx does not pass END_STREAM on to squid.
        for port in [ports.0, ports.1, ports.0] {
            let socket = try TestSocket.connect(port: port, timeout: 60)
            let payload = randomBytes(10_000)
            try socket.send(payload)
            XCTAssert(try socket.receive(exactly: payload.count) == payload, process.stderr)
        }
        XCTAssertEqual(process.stderr.components(separatedBy: "opened HTTP/2 connection").count - 1, 1, process.stderr)
    }

    /// JSON logs: a tunnel's lines carry its connection and stream as fields.
    func testJSONLogLinesNameTheConnection() throws {
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try multiplexedTunnel(to: target.port, extra: ["--log-format", "json"])
        let socket = try TestSocket.connect(port: tunnel.port, timeout: 60)
        let payload = randomBytes(1000)
        try socket.send(payload)
        XCTAssert(try socket.receive(exactly: payload.count) == payload)
        tunnel.process.waitForOutput { $0.contains("\"event\":\"connected\"") }
        let connected = try tunnel.process.stderr.split(separator: "\n").compactMap { line in
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
        }.filter { $0["event"] == "connected" }
        XCTAssertEqual(connected.count, 1, tunnel.process.stderr)
        XCTAssert(connected.first?["connection"]?.hasPrefix("h2-") == true, "\(connected)")
        XCTAssertEqual(connected.first?["stream"], "1")
        XCTAssertEqual(connected.first?["tunnel"], "1")
    }

    func testTwoHundredParallelTunnelsShareAFewConnections() throws {
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try multiplexedTunnel(to: target.port)
        let count = 200
        let sockets = try (0..<count).map { _ in try TestSocket.connect(port: tunnel.port, timeout: 60) }
        let payloads = (0..<count).map { randomBytes(16 * 1024 + $0 * 101) }
        let failures = ResultsBox(count: count)
        let group = DispatchGroup()
        for (i, socket) in sockets.enumerated() {
            group.enter()
            Thread { try? socket.send(payloads[i]) }.start()
            Thread {
                do {
                    let echoed = try socket.receive(exactly: payloads[i].count)
                    failures.set(i, echoed == payloads[i] ? nil : "tunnel \(i): content differs")
                } catch {
                    failures.set(i, "tunnel \(i): \(error)")
                }
                group.leave()
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success, "timed out")
        XCTAssertEqual(failures.failures, [])
        // 100 streams per connection (uvtunnel's default and nghttpx's SETTINGS): two, maybe three.
        let opened = connectionsOpened(tunnel)
        XCTAssert((2...3).contains(opened), "\(opened) HTTP/2 connections for \(count) tunnels")
    }

    func testMaxStreamsPerConnectionOpensMoreConnections() throws {
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try multiplexedTunnel(to: target.port, extra: ["--max-streams-per-connection", "5"])
        let sockets = try (0..<12).map { _ in try TestSocket.connect(port: tunnel.port, timeout: 60) }
        for (i, socket) in sockets.enumerated() {
            let payload = randomBytes(1000 + i)
            try socket.send(payload)
            XCTAssert(try socket.receive(exactly: payload.count) == payload)
        }
        XCTAssertEqual(connectionsOpened(tunnel), 3, tunnel.process.stderr)
    }

    func testTargetThatSpeaksFirst() throws {
        let greeting = Array("SSH-2.0-target\r\n".utf8)
        let target = try TargetServer(.speakFirst(greeting))
        defer { target.stop() }
        let tunnel = try multiplexedTunnel(to: target.port)
        let socket = try TestSocket.connect(port: tunnel.port, timeout: 30)
        XCTAssertEqual(try socket.receive(exactly: greeting.count), greeting)
        let payload = randomBytes(100_000)
        Thread { try? socket.send(payload) }.start()
        XCTAssert(try socket.receive(exactly: payload.count) == payload)
    }

    func testAStreamTheGatewayRefusesFailsThatTunnelAlone() throws {
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try multiplexedTunnel(to: target.port)
        let good = try TestSocket.connect(port: tunnel.port, timeout: 30)
        try good.send(Array("before".utf8))
        XCTAssertEqual(try good.receive(exactly: 6), Array("before".utf8))
        // squid admits loopback destinations only: this route's twin to 10.255.255.1 gets 403 on its stream.
        let refusedTunnel = try TunnelFixture(["--multiplex", "--pomerium-url", "https://127.0.0.1:\(proxy.port)",
                                               "--alternate-ca-path", certificates.caPath, "10.255.255.1:9"])
        let refused = try TestSocket.connect(port: refusedTunnel.port)
        XCTAssertTrue(refused.waitForClose(timeout: 20))
        refusedTunnel.process.waitForOutput { $0.contains("refused 10.255.255.1:9: 403") }
        try good.send(Array("after".utf8))
        XCTAssertEqual(try good.receive(exactly: 5), Array("after".utf8))
    }

    func testThroughAnEgressProxyTheConnectionIsStillHTTP2() throws {
        let target = try TargetServer(.echo)
        defer { target.stop() }
        // The same squid: it admits CONNECT to any loopback port, nghttpx's too.
        let tunnel = try multiplexedTunnel(to: target.port, extra: ["--egress-proxy", squid.proxyURL])
        for round in 0..<3 {
            let socket = try TestSocket.connect(port: tunnel.port, timeout: 30)
            let payload = randomBytes(500_000 + round)
            Thread { try? socket.send(payload) }.start()
            XCTAssert(try socket.receive(exactly: payload.count) == payload, "round \(round)")
        }
        XCTAssertEqual(connectionsOpened(tunnel), 1, tunnel.process.stderr)
        // squid logs a CONNECT when it ends: one, to nghttpx, once uvtunnel is gone.
        tunnel.process.stop()
        XCTAssertEqual(squid.waitForConnectLines(to: "127.0.0.1:\(proxy.port)", count: 1).count, 1)
    }

    func testFallsBackToHTTP1WhenTheGatewayDoesNotChooseH2() throws {
        // The bundled gateway offers h2 unless told not to.
        let gateway = try GatewayFixture(["--no-http2"])
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try TunnelFixture(["--multiplex"] + TunnelFixture.arguments(gateway: gateway, targetPort: target.port,
                                                                                 token: try gateway.token()))
        for size in [10, 300_000, 2 << 20] {
            let payload = randomBytes(size)
            XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, "\(size) bytes")
        }
        let warnings = tunnel.process.stderr.components(separatedBy: "did not choose HTTP/2").count - 1
        XCTAssertEqual(warnings, 1, tunnel.process.stderr)
        XCTAssertEqual(connectionsOpened(tunnel), 0)
    }
}

extension MultiplexTests {
    /// A local client that stops reading closes its own stream's window only:
    /// the other tunnels on the same connection keep flowing. (The download
    /// direction: nghttpx ties its own 64 KiB connection window to its
    /// backend's progress, so an upload that stalls at the target blocks
    /// nghttpx's side for every stream; that is the server's policy.)
    func testAStoppedReaderDoesNotStallTheOtherTunnels() throws {
        // More than every window and socket buffer between the target and the local client.
        let greeting = randomBytes(32 << 20)
        let target = try TargetServer(.speakFirst(greeting))
        defer { target.stop() }
        let tunnel = try multiplexedTunnel(to: target.port)
        let stalled = try TestSocket.connect(port: tunnel.port, timeout: 60)
        try stalled.send([1])  // through the tunnel: the stream is open and the target is sending
        Thread.sleep(forTimeInterval: 3)
        let residentWhileStalled = ProcessStats(pid: tunnel.process.process.processIdentifier).residentKiB
        for round in 0..<2 {
            let other = try TestSocket.connect(port: tunnel.port, timeout: 30)
            XCTAssert(try other.receive(exactly: greeting.count) == greeting, "round \(round)")
            try other.send(Array("ping".utf8))
            XCTAssertEqual(try other.receive(exactly: 4), Array("ping".utf8))
        }
        XCTAssertEqual(connectionsOpened(tunnel), 1, "the other tunnels shared the stalled one's connection")
        // uvtunnel buffers about one stream window (1 MiB) for the stalled stream, not the 32 MiB.
        XCTAssertLessThan(residentWhileStalled, 48 * 1024, "RSS (KiB) with a stalled stream")
        // Nothing was lost while it waited.
        XCTAssert(try stalled.receive(exactly: greeting.count) == greeting, "the stalled tunnel's bytes")
    }
}
