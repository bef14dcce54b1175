import Foundation
import XCTest

/// `uvtunnel --multiplex` through the bundled gateway, which serves HTTP/2
/// CONNECT (ALPN h2): bytes and half-close both ways, many tunnels on a few
/// TLS connections (counted on the gateway's side, from its log), the
/// sign-in of a stream the gateway redirects, and a refusal on one stream.
/// The fallback to HTTP/1.1 against `uvtunnel-gateway --no-http2` is in
/// MultiplexTests.
final class GatewayMultiplexTests: XCTestCase {
    private func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// TLS connections the gateway served over HTTP/2 (one info line each).
    private func h2Connections(_ gateway: GatewayFixture) -> Int {
        count("HTTP/2 connection opened", in: gateway.process.stderr)
    }

    private func clientConnections(_ tunnel: TunnelFixture) -> Int {
        count("opened HTTP/2 connection", in: tunnel.process.stderr)
    }

    func testBulkBothWaysIsByteExactWithHalfClose() throws {
        let gateway = try GatewayFixture()
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try TunnelFixture(["--multiplex"] + TunnelFixture.arguments(gateway: gateway, targetPort: target.port,
                                                                                 token: try gateway.token()))
        // echoRoundTrip half-closes after sending and reads to EOF: the
        // local FIN became END_STREAM, the target's FIN came back as ours.
        for size in [1, 70_000, 16 << 20] {
            let payload = randomBytes(size)
            XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, "\(size) bytes")
        }
        // The target answers only after our EOF reached it.
        let counter = try TargetServer(.answerAfterEOF)
        defer { counter.stop() }
        let second = try TunnelFixture(["--multiplex"] + TunnelFixture.arguments(gateway: gateway, targetPort: counter.port,
                                                                                 token: try gateway.token()))
        XCTAssertEqual(String(decoding: try echoRoundTrip(port: second.port, payload: randomBytes(123_456)), as: UTF8.self),
                       "got 123456 bytes")
        gateway.process.waitForOutput { _ in self.h2Connections(gateway) == 2 }
        XCTAssertEqual(clientConnections(tunnel), 1, tunnel.process.stderr)
        XCTAssertFalse(tunnel.process.stderr.contains("did not choose HTTP/2"))
    }

    func testTwoHundredParallelTunnelsRideAFewTLSConnections() throws {
        let gateway = try GatewayFixture()
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try TunnelFixture(["--multiplex"] + TunnelFixture.arguments(gateway: gateway, targetPort: target.port,
                                                                                 token: try gateway.token()))
        XCTAssertEqual(try parallelEchoFailures(port: tunnel.port, count: 200), [])
        gateway.process.waitForOutput { _ in self.h2Connections(gateway) >= 2 }
        // 100 streams per connection (the client's default): two, maybe three
        // when a connection is still being set up as the next tunnels arrive.
        let opened = h2Connections(gateway)
        XCTAssert((2...3).contains(opened), "the gateway served \(opened) HTTP/2 connections for 200 tunnels")
        XCTAssertEqual(clientConnections(tunnel), opened, tunnel.process.stderr)
        XCTAssertEqual(count("answered", in: gateway.process.stderr), 0, "every stream was admitted at once")
    }

    /// The frames one loop turn has for many streams leave as one transport
    /// write whose small DATA payloads share TLS records, not a record per
    /// stream: counted on the wire between the client and the gateway, both
    /// ways. Each side is stopped (SIGSTOP) while the 64 tunnels' messages
    /// wait in its sockets, so it finds them all in one loop turn: 66 and 65
    /// records before small payloads were copied together, 1 and 1 after.
    func testSmallMessagesOfManyStreamsInOneTurnShareTLSRecords() throws {
        let streams = 64, size = 64
        let gateway = try GatewayFixture()
        let relay = try TLSRecordRelay(upstreamPort: gateway.port)
        defer { relay.stop() }
        let gate = EchoGate()
        let target = try TargetServer(.heldEcho(count: size, gate: gate))
        defer { target.stop() }
        var arguments = TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
        arguments[1] = "https://127.0.0.1:\(relay.port)"  // --pomerium-url: through the relay
        let tunnel = try TunnelFixture(["--multiplex"] + arguments)
        let sockets = try (0..<streams).map { _ in try TestSocket.connect(port: tunnel.port, timeout: 60) }
        // Every stream answered (so the client reads its local socket) before the messages go.
        XCTAssert(tunnel.process.waitForOutput(timeout: 60) { text in
            text.split(separator: "\n").filter { $0.hasSuffix("] connected") }.count == streams
        }, "every stream answered")
        let messages = (0..<streams).map { i in
            let label = Array("stream \(i) ".utf8)
            return label + Array(repeating: UInt8(ascii: "m"), count: size - label.count)
        }

        let upBefore = relay.count(.up)
        tunnel.process.signal(SIGSTOP)
        for (socket, message) in zip(sockets, messages) { try socket.send(message) }
        tunnel.process.signal(SIGCONT)
        XCTAssert(gate.waitForArrivals(streams), "every target got its message")
        let up = relay.count(.up) - upBefore

        let downBefore = relay.count(.down)
        gateway.process.signal(SIGSTOP)
        gate.open()
        let sent = gate.waitForSent(streams)
        gateway.process.signal(SIGCONT)
        XCTAssert(sent, "every target sent its message back")
        for (socket, message) in zip(sockets, messages) { XCTAssertEqual(try socket.receive(exactly: size), message) }
        let down = relay.count(.down) - downBefore

        XCTAssertLessThanOrEqual(up, streams / 8, "client to gateway: \(up) TLS records for \(streams) messages")
        XCTAssertLessThanOrEqual(down, streams / 8, "gateway to client: \(down) TLS records for \(streams) messages")
    }

    func testAStreamWithoutATokenSignsInOnceAndIsRetried() throws {
        let signIn = try MultiplexSignIn()
        defer { withExtendedLifetime(signIn) {} }  // its target stops when it goes
        let (gateway, browser, tunnel) = (signIn.gateway, signIn.browser, signIn.tunnel)
        XCTAssertEqual(try parallelEchoFailures(port: tunnel.port, count: 20, size: { 10_000 + $0 }), [])
        XCTAssertEqual(browser.starts, 1, "one browser start")
        gateway.process.waitForOutput { $0.contains("answered 302: no token") }
        XCTAssertEqual(count("answered 200: login request", in: gateway.process.stderr), 1, "one login request")
        // The redirect came on a stream of an HTTP/2 connection, and the retried streams went over HTTP/2 too.
        XCTAssertGreaterThanOrEqual(clientConnections(tunnel), 1, tunnel.process.stderr)
        XCTAssertGreaterThanOrEqual(h2Connections(gateway), 1, gateway.process.stderr)
        XCTAssertFalse(tunnel.process.stderr.contains("did not choose HTTP/2"))
    }

    func testADisallowedDestinationFailsItsTunnelAloneWith403() throws {
        let gateway = try GatewayFixture()
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let token = try gateway.token()
        let tunnel = try TunnelFixture(["--multiplex"] + TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: token))
        let good = try TestSocket.connect(port: tunnel.port, timeout: 30)
        try good.send(Array("before".utf8))
        XCTAssertEqual(try good.receive(exactly: 6), Array("before".utf8))
        // The gateway admits loopback destinations only.
        let refusedTunnel = try TunnelFixture(["--multiplex", "--pomerium-url", "https://127.0.0.1:\(gateway.port)",
                                               "--alternate-ca-path", gateway.caPath, "--service-account", token, "10.255.255.1:9"])
        let refused = try TestSocket.connect(port: refusedTunnel.port)
        XCTAssertTrue(refused.waitForClose(timeout: 20))
        refusedTunnel.process.waitForOutput { $0.contains("refused 10.255.255.1:9: 403") }
        gateway.process.waitForOutput { $0.contains("answered 403: destination 10.255.255.1:9 not allowed") }
        try good.send(Array("after".utf8))
        XCTAssertEqual(try good.receive(exactly: 5), Array("after".utf8))
    }

    /// `max-streams-per-connection` in a config file, as a default and per
    /// route: 8 held tunnels on a route with the default of 4 take two
    /// connections of 4 streams, 4 on a route that sets 2 take two of 2
    /// (uvtunnel's streams-per-connection metric; the gateway logs 4 connections).
    func testMaxStreamsPerConnectionFromAConfigFileIsHonoured() throws {
        let gateway = try GatewayFixture()
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let metricsPort = try freeLoopbackPort()
        let tunnel = try TwoRouteConfigTunnel(gateway: try TwoRouteConfigTunnel.gatewayLines(gateway), defaults: """
            metrics-addr = "127.0.0.1:\(metricsPort)"
            multiplex = true
            max-streams-per-connection = 4
            """, targetPort: target.port, extra: ("", "max-streams-per-connection = 2"))
        let (ports, process) = (tunnel.ports, tunnel.process)
        defer { withExtendedLifetime(tunnel) {} }  // its end stops the process and removes the file
        // One at a time, each echoed before the next opens: a tunnel goes on a new
        // connection only when the ones open are full.
        var held: [TestSocket] = []
        for port in Array(repeating: ports.0, count: 8) + Array(repeating: ports.1, count: 4) {
            let socket = try TestSocket.connect(port: port, timeout: 30)
            let payload = randomBytes(1_000 + held.count)
            try socket.send(payload)
            XCTAssert(try socket.receive(exactly: payload.count) == payload, process.stderr)
            held.append(socket)
        }
        let curl = try ChildProcess("/usr/bin/curl", ["-s", "http://127.0.0.1:\(metricsPort)/metrics"])
        XCTAssertEqual(curl.waitForExit(), 0)
        let streams = curl.stdout.split(separator: "\n").filter { $0.hasPrefix("uvtunnel_gateway_connection_streams{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }
        XCTAssertEqual(streams.sorted(), [2, 2, 4, 4], curl.stdout)
        XCTAssertEqual(count("opened HTTP/2 connection", in: process.stderr), 4, process.stderr)
        gateway.process.waitForOutput { _ in self.h2Connections(gateway) == 4 }
        XCTAssertEqual(h2Connections(gateway), 4, gateway.process.stderr)
        withExtendedLifetime(held) {}
    }
}
