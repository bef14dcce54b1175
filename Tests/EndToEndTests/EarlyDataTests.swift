import Foundation
import XCTest

/// `--multiplex` sends a local client's first bytes right behind the
/// CONNECT's HEADERS, before the gateway answers (the bundled gateway logs
/// how many came before its answer), and never loses or repeats them: not
/// when the answer is a sign-in redirect and the stream is retried, not when
/// the gateway speaks only HTTP/1.1, not when the client ended at once.
/// `--no-early-data` (`early-data = false`) keeps them until the answer.
///
/// Each test uses a tunnel's first connection: it is dialled (TCP, TLS,
/// SETTINGS) after the local client's bytes are already in the socket, so
/// they are read before the stream opens and leave with its HEADERS.
final class EarlyDataTests: XCTestCase {
    private func multiplexTunnel(_ gateway: GatewayFixture, _ target: TargetServer, extra: [String] = []) throws -> TunnelFixture {
        try TunnelFixture(["--multiplex"] + extra + TunnelFixture.arguments(gateway: gateway, targetPort: target.port,
                                                                            token: try gateway.token()))
    }

    /// The gateway's whole log: stopped, so every line it wrote is in.
    private func finalLog(_ gateway: GatewayFixture) -> String {
        gateway.process.stop()
        return gateway.process.stderr
    }

    private let earlyLine = "that came before the answer"

    /// Sends `payload` the moment the connection is up, then ends; returns all it read.
    private func sendAtOnce(port: UInt16, _ payload: [UInt8]) throws -> [UInt8] {
        let socket = try TestSocket.connect(port: port, timeout: 30)
        if !payload.isEmpty { try socket.send(payload) }
        socket.shutdownWrite()
        return try socket.receiveAll()
    }

    func testTheFirstBytesLeaveWithTheRequest() throws {
        let gateway = try GatewayFixture()
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try multiplexTunnel(gateway, target)
        XCTAssertEqual(try sendAtOnce(port: tunnel.port, Array("hello".utf8)), Array("hello".utf8))
        XCTAssertTrue(gateway.process.waitForOutput { $0.contains("relaying with 5 bytes that came before the answer") },
                      gateway.process.stderr)
        // Later writes of the same tunnel follow them in order (a large first
        // message is not carried early: it goes once relaying).
        for size in [1, 20_000, 300_000] {
            let payload = randomBytes(size)
            XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, "\(size) bytes")
        }
    }

    func testARedirectedStreamCarriesTheSameBytesOnceAfterSignIn() throws {
        let signIn = try MultiplexSignIn()
        defer { withExtendedLifetime(signIn) {} }  // its target stops when it goes
        let (gateway, browser, tunnel) = (signIn.gateway, signIn.browser, signIn.tunnel)
        let payload = randomBytes(3_000)
        XCTAssert(try sendAtOnce(port: tunnel.port, payload) == payload, "echoed exactly once, in order")
        let log = gateway.process.stderr
        XCTAssertTrue(log.contains("answered 302: no token"), log)
        // The first stream's early DATA was dropped with its 302; the retry carried the bytes again.
        XCTAssertTrue(gateway.process.waitForOutput { $0.contains("relaying with 3000 bytes that came before the answer") },
                      gateway.process.stderr)
        XCTAssertEqual(browser.starts, 1)
    }

    func testAGatewayWithoutHTTP2GetsTheEarlyBytesOverHTTP1() throws {
        let gateway = try GatewayFixture(["--no-http2"])
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try multiplexTunnel(gateway, target)
        let payload = randomBytes(4_000)
        XCTAssert(try sendAtOnce(port: tunnel.port, payload) == payload)
        XCTAssertTrue(tunnel.process.stderr.contains("did not choose HTTP/2"), tunnel.process.stderr)
    }

    /// A client that connects and ends without a byte: its EOF, read while
    /// the tunnel was connecting, still reaches the target.
    func testAnEndReadBeforeTheAnswerReachesTheTarget() throws {
        let gateway = try GatewayFixture()
        let counter = try TargetServer(.answerAfterEOF)
        defer { counter.stop() }
        let tunnel = try multiplexTunnel(gateway, counter)
        XCTAssertEqual(String(decoding: try sendAtOnce(port: tunnel.port, []), as: UTF8.self), "got 0 bytes")
        XCTAssertEqual(String(decoding: try sendAtOnce(port: tunnel.port, Array("abc".utf8)), as: UTF8.self), "got 3 bytes")
    }

    /// `--no-early-data`: the same client as in the first test, but its bytes
    /// wait for the answer (the gateway logs none that came before it; with
    /// the flag ignored it would log 3000), then arrive exactly once, in order.
    func testWithoutEarlyDataTheFirstBytesWaitForTheAnswer() throws {
        let gateway = try GatewayFixture()
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try multiplexTunnel(gateway, target, extra: ["--no-early-data"])
        let payload = randomBytes(3_000)
        XCTAssert(try sendAtOnce(port: tunnel.port, payload) == payload, "echoed exactly once, in order")
        for size in [1, 20_000, 300_000] {
            let payload = randomBytes(size)
            XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, "\(size) bytes")
        }
        let log = finalLog(gateway)
        XCTAssertTrue(log.contains("HTTP/2 connection opened"), "the tunnels were HTTP/2 streams: \(log)")
        XCTAssertFalse(log.contains(earlyLine), log)
    }

    /// `early-data` in a config file, as a default and per route: a route
    /// that turns it back on gets a connector of its own (not the other
    /// route's, which carries nothing early), so only its bytes come early.
    func testEarlyDataFromAConfigFileIsPerRoute() throws {
        let gateway = try GatewayFixture()
        let target = try TargetServer(.echo)
        defer { target.stop() }
        let tunnel = try TwoRouteConfigTunnel(gateway: try TwoRouteConfigTunnel.gatewayLines(gateway),
                                              defaults: "multiplex = true\nearly-data = false", targetPort: target.port,
                                              extra: ("", "early-data = true"))
        let (ports, process) = (tunnel.ports, tunnel.process)
        defer { withExtendedLifetime(tunnel) {} }  // its end stops the process and removes the file
        let late = randomBytes(3_000)
        XCTAssert(try sendAtOnce(port: ports.0, late) == late, process.stderr)
        let early = randomBytes(7)
        XCTAssert(try sendAtOnce(port: ports.1, early) == early, process.stderr)
        let log = finalLog(gateway)
        XCTAssertEqual(log.components(separatedBy: earlyLine).count - 1, 1, log)
        XCTAssertTrue(log.contains("relaying with 7 bytes \(earlyLine)"), log)
    }
}
