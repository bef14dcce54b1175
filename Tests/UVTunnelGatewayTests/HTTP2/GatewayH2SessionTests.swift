import CShims
import Glibc
import Foundation
import Logging
import XCTest
import UVTunnel
@testable import UVTunnelGateway

/// The bundled gateway's HTTP/2 side, in process: a GatewayServer with ALPN
/// h2, a real TLS connection from an nghttp2 test client, real targets.
final class GatewayH2SessionTests: XCTestCase {
    var loop: EventLoop!
    var gateway: GatewayServer!
    private var gatewayAddress: SocketAddress!
    private var certificatePEM = ""
    private var clients: [H2TestClient] = []
    private var targets: [LoopTarget] = []

    override func setUpWithError() throws {
        loop = try EventLoop()
        let made = try CertificateFactory.makeSelfSigned()
        certificatePEM = made.certificatePEM
        let tls = try TLSContext.server(certificatePEM: made.certificatePEM, privateKeyPEM: made.privateKeyPEM)
        tls.selectALPN(["h2", "http/1.1"])
        var options = GatewayOptions(tls: tls, verifyToken: { $0 == "secret" ? .valid : .invalid("wrong token") })
        options.issueToken = { "issued" }
        gateway = GatewayServer(loop: loop, options: options, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        gatewayAddress = try gateway.listen(on: try SocketAddress(ip: "127.0.0.1", port: 0))
    }

    override func tearDown() {
        clients.forEach { $0.close() }
        targets.forEach { $0.close() }
        gateway?.close()
        if let loop {
            spin("the gateway's connections to close") { gateway.openConnections == 0 }
            for _ in 0..<20 { _ = loop.runOnce(block: false) }
            clients.removeAll()
            XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer returned to the pool")
            XCTAssertEqual(loop.close(), 0, "no handle left open")
        }
        loop = nil
    }

    func spin(_ what: String, file: StaticString = #filePath, line: UInt = #line, until condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(10)
        while !condition() {
            guard Date() < deadline else { return XCTFail("timed out waiting for \(what)", file: file, line: line) }
            _ = loop.runOnce(block: false)
        }
    }

    func client() throws -> H2TestClient {
        let client = try H2TestClient(loop: loop, address: gatewayAddress, certificatePEM: certificatePEM)
        clients.append(client)
        spin("the TLS handshake") { client.isConnected || client.isGone }
        XCTAssertEqual(client.negotiated, "h2")
        return client
    }

    private func target(_ mode: LoopTarget.Mode) throws -> LoopTarget {
        let target = try LoopTarget(loop: loop, mode: mode)
        targets.append(target)
        return target
    }

    func testConnectRelaysBytesExactlyBothWaysWithHalfClose() throws {
        let echo = try target(.echo)
        let client = try client()
        let payload = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let id = client.connect("127.0.0.1:\(echo.address.port)", token: "secret")
        client.send(payload, on: id, end: true)
        let stream = client.streams[id]!
        spin("the echo and END_STREAM") { stream.ended || stream.resetCode != nil }
        XCTAssertEqual(stream.status, 200)
        XCTAssertNil(stream.resetCode)
        XCTAssertEqual(stream.received.count, payload.count)
        XCTAssert(stream.received == payload, "echo differs")
        XCTAssertEqual(echo.eofs, 1, "END_STREAM reached the target as FIN")
        spin("the stream to close") { stream.closed }
        XCTAssertEqual(gateway.answers[200], 1)
        XCTAssertEqual(gateway.http2ConnectionsAccepted, 1)
    }

    func testRefusalsAnswerLikeHTTP1AndLeaveTheConnectionUsable() throws {
        let echo = try target(.echo)
        let client = try client()
        let noToken = client.connect("127.0.0.1:\(echo.address.port)", token: nil)
        let wrongToken = client.connect("127.0.0.1:\(echo.address.port)", token: "nope")
        let notAllowed = client.connect("192.0.2.1:22", token: "secret")
        let badTarget = client.connect("no-port-here", token: "secret")
        let closedPort = try SocketAddress(ip: "127.0.0.1", port: 0)
        let nobody = try TCPListener(loop: loop, address: closedPort)
        let deadPort = nobody.address.port
        nobody.close()
        let refused = client.connect("127.0.0.1:\(deadPort)", token: "secret")
        let ok = client.connect("127.0.0.1:\(echo.address.port)", token: "secret")
        client.send(Array("ping".utf8), on: ok, end: true)
        let all = [noToken, wrongToken, notAllowed, badTarget, refused, ok]
        spin("every answer") { all.allSatisfy { client.streams[$0]!.ended || client.streams[$0]!.resetCode != nil } }
        XCTAssertEqual(client.streams[noToken]?.status, 302)
        XCTAssertEqual(client.streams[noToken]?.headers.first { $0.0 == "location" }?.1, "/.pomerium/sign_in")
        XCTAssertEqual(client.streams[wrongToken]?.status, 401)
        XCTAssertEqual(client.streams[notAllowed]?.status, 403)
        XCTAssertEqual(client.streams[badTarget]?.status, 400)
        XCTAssertEqual(client.streams[refused]?.status, 502)
        XCTAssertEqual(client.streams[ok]?.status, 200)
        XCTAssertEqual(client.streams[ok]?.received, Array("ping".utf8))
        XCTAssertEqual(client.streams[notAllowed].map { String(decoding: $0.received, as: UTF8.self) }, "403 Forbidden\n")
        XCTAssertFalse(client.isGone)
        XCTAssertEqual(gateway.answers, [302: 1, 401: 1, 403: 1, 400: 1, 502: 1, 200: 1])
    }

    func testATargetThatDoesNotReadClosesOnlyItsOwnStreamWindow() throws {
        let stall = try target(.stall)
        let echo = try target(.echo)
        let client = try client()
        let stuck = client.connect("127.0.0.1:\(stall.address.port)", token: "secret")
        spin("the stalled stream's 200") { client.streams[stuck]?.status != nil }
        // Far more than the stream window plus the kernel's socket buffers.
        client.send([UInt8](repeating: 0x5A, count: 64 << 20), on: stuck)
        spin("the stalled stream's window to close") { client.sendWindow(stuck) == 0 }
        // The connection's other streams still flow.
        let other = client.connect("127.0.0.1:\(echo.address.port)", token: "secret")
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        client.send(payload, on: other, end: true)
        spin("the other stream's echo") { client.streams[other]!.ended || client.streams[other]!.resetCode != nil }
        XCTAssert(client.streams[other]!.received == payload, "echo differs")
        XCTAssertEqual(client.sendWindow(stuck), 0, "the stalled stream stayed closed")
        XCTAssertLessThan(client.streams[stuck]!.sentTotal, 64 << 20, "the gateway did not take it all")
        client.reset(stuck)
        spin("the stalled target to be dropped") { gateway.openConnections == 1 && client.streams[stuck]!.closed }
    }

    func testSignInPagesAreServedOverHTTP2() throws {
        let client = try client()
        let id = client.request([(":method", "GET"), (":scheme", "https"), (":authority", "127.0.0.1:\(gatewayAddress.port)"),
                                 (":path", "/.pomerium/api/v1/login?pomerium_redirect_uri=http%3A%2F%2F127.0.0.1%3A4321%2F")])
        spin("the login answer") { client.streams[id]!.ended }
        XCTAssertEqual(client.streams[id]?.status, 200)
        let body = String(decoding: client.streams[id]!.received, as: UTF8.self)
        XCTAssert(body.hasPrefix("https://127.0.0.1:\(gatewayAddress.port)/.uvtunnel/sign_in?redirect_uri="), body)
        XCTAssertFalse(client.streams[id]!.headers.contains { $0.0 == "connection" })
    }

    func testAClientResetClosesTheTargetConnection() throws {
        let echo = try target(.echo)
        let client = try client()
        let id = client.connect("127.0.0.1:\(echo.address.port)", token: "secret")
        client.send(Array("hello".utf8), on: id)
        spin("the echo") { client.streams[id]!.received.count == 5 }
        client.reset(id)
        spin("the target to see the close") { echo.eofs == 1 }
        spin("the stream to close") { client.streams[id]!.closed }
        XCTAssertFalse(client.isGone)
    }

    func testOversizedHeaderFieldsAre431AndTheConnectionGoesOn() throws {
        let echo = try target(.echo)
        let client = try client()
        let big = client.request([(":method", "CONNECT"), (":authority", "127.0.0.1:\(echo.address.port)"),
                                  ("authorization", "Pomerium secret"), ("x-filler", String(repeating: "a", count: 20_000))])
        let ok = client.connect("127.0.0.1:\(echo.address.port)", token: "secret")
        client.send(Array("still here".utf8), on: ok, end: true)
        spin("both answers") { client.streams[big]!.ended && client.streams[ok]!.ended }
        XCTAssertEqual(client.streams[big]?.status, 431)
        XCTAssertEqual(client.streams[ok]?.received, Array("still here".utf8))
        XCTAssertEqual(echo.accepted, 1, "the oversized request never reached a target")
    }

    func testAStreamStaysOpenUntilTheClientEndsItThenEndsBothWays() throws {
        // No END_STREAM back while the client's side is open; its END_STREAM reaches the
        // echo target as FIN after its last bytes, and the target's FIN comes back as END_STREAM.
        let counter = try LoopTarget(loop: loop, mode: .echo)
        targets.append(counter)
        let client = try client()
        let id = client.connect("127.0.0.1:\(counter.address.port)", token: "secret")
        client.send(Array("abc".utf8), on: id)
        spin("the echo") { client.streams[id]!.received.count == 3 }
        XCTAssertFalse(client.streams[id]!.ended)
        client.send(Array("def".utf8), on: id, end: true)
        spin("END_STREAM back") { client.streams[id]!.ended }
        XCTAssertEqual(client.streams[id]!.received, Array("abcdef".utf8))
        spin("the stream to close") { client.streams[id]!.closed }
        XCTAssertEqual(counter.eofs, 1)
    }

    func testGarbageInsteadOfThePrefaceClosesTheConnectionAndLeaksNothing() throws {
        let client = try client()
        client.sendRaw(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8) + [UInt8](repeating: 0xFF, count: 100))
        spin("the gateway to hang up") { client.isGone }
        spin("the session to be gone") { gateway.openConnections == 0 }
    }

    func testATargetResetBecomesRSTStreamConnectError() throws {
        // A plain listening socket: the test accepts the gateway's connection itself and resets it.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(listener, 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                XCTAssertEqual(bind(listener, raw, length), 0)
                XCTAssertEqual(listen(listener, 4), 0)
                XCTAssertEqual(getsockname(listener, raw, &length), 0)
            }
        }
        let port = UInt16(bigEndian: address.sin_port)
        let client = try client()
        let id = client.connect("127.0.0.1:\(port)", token: "secret")
        spin("the 200") { client.streams[id]?.status != nil }
        XCTAssertEqual(client.streams[id]?.status, 200)
        let accepted = accept(listener, nil, nil)
        XCTAssertGreaterThanOrEqual(accepted, 0)
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(accepted, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(accepted)  // RST, not FIN
        spin("the stream's reset") { client.streams[id]!.resetCode != nil || client.streams[id]!.ended }
        XCTAssertEqual(client.streams[id]?.resetCode, NGHTTP2_CONNECT_ERROR.rawValue)
        XCTAssertFalse(client.isGone, "only the stream, not the connection")
    }
}
