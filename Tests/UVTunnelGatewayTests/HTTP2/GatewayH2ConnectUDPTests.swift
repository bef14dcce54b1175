import CShims
import XCTest
import UVTunnel
@testable import UVTunnelGateway

/// connect-udp as HTTP/2 extended CONNECT streams (GatewayH2Stream+UDP.swift),
/// in process: the gateway's SETTINGS, capsules relayed to a real UDP echo,
/// the same refusals as the HTTP/1.1 upgrade, and each way a stream ends
/// (`tearDown` checks every handle, the UDP sockets too, was closed).
extension GatewayH2SessionTests {
    /// A UDP echo on the test's loop; returns its port and a way to close it.
    private func udpEcho() throws -> (port: UInt16, close: () -> Void) {
        let socket = try UDPSocket(loop: loop, binding: try SocketAddress(ip: "127.0.0.1", port: 0))
        try socket.startReceiving { [socket] buffer, sender in socket.send(buffer, to: sender) }
        return (socket.address.port, { socket.close() })
    }

    private func connectUDPClient() throws -> H2TestClient {
        let client = try client()
        spin("the gateway's SETTINGS") { client.remoteSetting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1 || client.isGone }
        return client
    }

    private func payloads(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var decoder = CapsuleDecoder()
        var out: [[UInt8]] = []
        try decoder.feed(bytes) { if case .datagram(let payload) = $0 { out.append(payload) } }
        return out
    }

    func testConnectUDPStreamEchoesDatagramsExactlyAndEndsBothWays() throws {
        let echo = try udpEcho()
        defer { echo.close() }
        let client = try connectUDPClient()
        XCTAssertEqual(client.remoteSetting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1, "the gateway announces extended CONNECT")
        let id = client.connectUDP(host: "127.0.0.1", port: echo.port, token: "secret")
        let sent = [1, 1_200, 65_507].map { size in (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ size) } }
        for payload in sent { client.send(CapsuleEncoder.datagram(payload), on: id) }
        let stream = client.streams[id]!
        spin("three echoed datagrams") { ((try? self.payloads(stream.received))?.count ?? 0) == 3 || stream.resetCode != nil }
        XCTAssertEqual(stream.status, 200)
        XCTAssertEqual(stream.headers.first { $0.0 == "capsule-protocol" }?.1, "?1")
        XCTAssertEqual(try payloads(stream.received).map(\.count), [1, 1_200, 65_507])
        XCTAssert(try payloads(stream.received) == sent, "an echoed datagram differs")
        // The client's END_STREAM (between capsules) gets the gateway's: the stream closes cleanly.
        client.send([], on: id, end: true)
        spin("the gateway's END_STREAM") { stream.ended || stream.resetCode != nil }
        XCTAssertNil(stream.resetCode)
        XCTAssertEqual(gateway.answers[200], 1)
    }

    func testConnectUDPRefusalsAnswerLikeTheHTTP1Upgrade() throws {
        let client = try connectUDPClient()
        let noToken = client.connectUDP(host: "127.0.0.1", port: 53, token: nil)
        let wrongToken = client.connectUDP(host: "127.0.0.1", port: 53, token: "nope")
        let notAllowed = client.connectUDP(host: "192.0.2.1", port: 53, token: "secret")
        let badPath = client.connectUDP(host: "127.0.0.1", port: 53, token: "secret", path: "/.well-known/masque/udp/127.0.0.1/53")
        let otherProtocol = client.connectUDP(host: "127.0.0.1", port: 53, token: "secret", protocolName: "websocket")
        let all = [noToken, wrongToken, notAllowed, badPath, otherProtocol]
        spin("every answer") { all.allSatisfy { client.streams[$0]!.ended || client.streams[$0]!.resetCode != nil } }
        XCTAssertEqual(client.streams[noToken]?.status, 302)
        XCTAssertEqual(client.streams[wrongToken]?.status, 401)
        XCTAssertEqual(client.streams[notAllowed]?.status, 403)
        XCTAssertEqual(client.streams[badPath]?.status, 400)
        XCTAssertEqual(client.streams[otherProtocol]?.status, 501)
        XCTAssertFalse(client.isGone)
        XCTAssertEqual(gateway.answers, [302: 1, 401: 1, 403: 1, 400: 1, 501: 1])
    }

    /// A capsule longer than any datagram breaks the stream, not the connection.
    func testABrokenCapsuleStreamIsResetAndTheConnectionGoesOn() throws {
        let echo = try udpEcho()
        defer { echo.close() }
        let client = try connectUDPClient()
        let broken = client.connectUDP(host: "127.0.0.1", port: echo.port, token: "secret")
        spin("the answer") { client.streams[broken]!.status != nil }
        var huge: [UInt8] = [0]
        QUICVarint.append(1 << 20, to: &huge)
        client.send(huge, on: broken)
        spin("the reset") { client.streams[broken]!.resetCode != nil }
        XCTAssertEqual(client.streams[broken]?.status, 200)
        XCTAssertEqual(client.streams[broken]?.resetCode, NGHTTP2_PROTOCOL_ERROR.rawValue)
        let next = client.connectUDP(host: "127.0.0.1", port: echo.port, token: "secret")
        client.send(CapsuleEncoder.datagram([7, 8, 9]), on: next)
        spin("the echo") { ((try? self.payloads(client.streams[next]!.received))?.count ?? 0) == 1 }
        XCTAssertEqual(try payloads(client.streams[next]!.received), [[7, 8, 9]])
    }

    /// RST_STREAM(CANCEL) from the client (uvtunnel closing an idle session) closes the UDP socket.
    func testAClientResetEndsTheSession() throws {
        let echo = try udpEcho()
        defer { echo.close() }
        let client = try connectUDPClient()
        let id = client.connectUDP(host: "127.0.0.1", port: echo.port, token: "secret")
        spin("the answer") { client.streams[id]!.status != nil }
        client.reset(id)
        client.send(CapsuleEncoder.datagram([1]), on: client.connectUDP(host: "127.0.0.1", port: echo.port, token: "secret"))
        spin("the connection to go on") { client.streams.values.contains { !$0.received.isEmpty } }
        XCTAssertEqual(client.streams[id]?.received, [])
    }
}
