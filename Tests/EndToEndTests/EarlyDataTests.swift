import Foundation
import XCTest

/// `--multiplex` sends a local client's first bytes right behind the
/// CONNECT's HEADERS, before the gateway answers (the bundled gateway logs
/// how many came before its answer), and never loses or repeats them: not
/// when the answer is a sign-in redirect and the stream is retried, not when
/// the gateway speaks only HTTP/1.1, not when the client ended at once.
///
/// Each test uses a tunnel's first connection: it is dialled (TCP, TLS,
/// SETTINGS) after the local client's bytes are already in the socket, so
/// they are read before the stream opens and leave with its HEADERS.
final class EarlyDataTests: XCTestCase {
    private func multiplexTunnel(_ gateway: GatewayFixture, _ target: TargetServer) throws -> TunnelFixture {
        try TunnelFixture(["--multiplex"] + TunnelFixture.arguments(gateway: gateway, targetPort: target.port,
                                                                    token: try gateway.token()))
    }

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
}
