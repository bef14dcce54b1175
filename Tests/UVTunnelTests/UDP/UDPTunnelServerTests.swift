import Foundation
import XCTest
@testable import UVTunnel

extension FakeConnector: UDPGatewayConnector {
    func openUDP(destination: String, token: String?,
                 completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        open(destination: destination, token: token, completion: completion)
    }
}

/// The UDP listener over real loopback sockets and the fake connector: the
/// pre-101 queue (oldest dropped), order, the way back to the client's
/// address, the session limit, and the shared sign-in retry.
final class UDPTunnelServerTests: XCTestCase {
    private final class Rig {
        let loop: EventLoop
        let connector = FakeConnector()
        let tokens = FakeTokenSource()
        let logs = LogCapture()
        let server: UDPTunnelServer
        let address: SocketAddress
        var gateways: [MemoryStreamPair] = []

        init(loop: EventLoop, settings: UDPTunnelServer.Settings, allowFrom: [AddressRange] = []) throws {
            self.loop = loop
            let route = Route(destination: "dns.corp:53", gatewayHost: "gw.corp", gatewayPort: 443, useTLS: true)
            var options = TunnelOptions(route: route, tls: nil)
            options.allowFrom = allowFrom
            server = UDPTunnelServer(loop: loop, options: options, tokens: tokens,
                                     settings: settings, connector: connector, logger: logs.logger(level: .info))
            address = try server.listen(on: SocketAddress(ip: "127.0.0.1", port: 0))
        }

        /// A client socket that records what comes back to it.
        func client() throws -> (UDPSocket, Box) {
            let socket = try UDPSocket(loop: loop, binding: SocketAddress(ip: "127.0.0.1", port: 0))
            let box = Box()
            try socket.startReceiving { [loop] buffer, _ in
                box.received.append(buffer.bytes)
                loop.buffers.give(buffer)
            }
            return (socket, box)
        }

        func send(_ text: String, from socket: UDPSocket) {
            socket.send(loop.buffers.buffers(copying: Array(text.utf8))[0], to: address)
        }

        /// Runs the loop until `condition` holds (loopback UDP is quick; 5 s at most).
        func spin(until condition: () -> Bool, file: StaticString = #filePath, line: UInt = #line) {
            let deadline = Date().addingTimeInterval(5)
            while !condition() {
                guard Date() < deadline else { return XCTFail("condition not reached", file: file, line: line) }
                _ = loop.runOnce(block: false)
                usleep(500)
            }
        }
    }

    final class Box { var received: [[UInt8]] = [] }

    private func withRig(_ settings: UDPTunnelServer.Settings = .init(), allowFrom: [AddressRange] = [],
                         _ body: (Rig) throws -> Void, file: StaticString = #filePath, line: UInt = #line) throws {
        let loop = try EventLoop()
        do {
            let rig = try Rig(loop: loop, settings: settings, allowFrom: allowFrom)
            try body(rig)
            rig.server.close()
            for pair in rig.gateways {
                pair.a.close()
                pair.b.close()
            }
        }
        loop.closeAfterRunning(file: file, line: line)
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer back in the pool", file: file, line: line)
    }

    func testEarlyDatagramsWaitInOrderOldestDroppedThenRepliesGoBack() throws {
        var settings = UDPTunnelServer.Settings()
        settings.queueLimit = 2
        try withRig(settings) { rig in
            rig.tokens.answerToken = .now("T")
            let (client, box) = try rig.client()
            defer { client.close() }
            for text in ["one", "two", "three"] { rig.send(text, from: client) }
            rig.spin { rig.server.counters.droppedQueueFull == 1 }
            XCTAssertEqual(rig.connector.attempts.map(\.destination), ["dns.corp:53"], "one session for one client address")
            XCTAssertEqual(rig.connector.attempts.map(\.token), ["T"])

            let pair = MemoryStreamPair(loop: rig.loop)
            rig.gateways.append(pair)
            rig.connector.attempts[0].succeed(pair.a)
            let gateway = ReadCollector(pair.b, pool: rig.loop.buffers)
            gateway.start()
            let expected = CapsuleEncoder.datagram(Array("two".utf8)) + CapsuleEncoder.datagram(Array("three".utf8))
            rig.spin { gateway.data.count >= expected.count }
            XCTAssertEqual(Array(gateway.data), expected, "the newest two, in order, as DATAGRAM capsules")

            // Capsules back, split anywhere, reach the client's address as datagrams.
            let back = CapsuleEncoder.datagram(Array("four".utf8)) + [0x40, 0x2A, 0x00] + CapsuleEncoder.datagram([])
            pair.b.write(rig.loop.buffers.buffers(copying: Array(back.prefix(3)))) { _ in }
            pair.b.write(rig.loop.buffers.buffers(copying: Array(back.dropFirst(3)))) { _ in }
            rig.spin { box.received.count == 2 }
            XCTAssertEqual(box.received, [Array("four".utf8), []])
            XCTAssertEqual(rig.server.openSessionCount, 1)

            let metrics = TunnelMetrics()
            XCTAssertFalse(metrics.render().contains("uvtunnel_udp_"), "no UDP lines without a UDP listener")
            metrics.udpServers = { [rig.server] }
            let text = metrics.render()
            for line in ["uvtunnel_udp_sessions_open 1",
                         "uvtunnel_udp_datagrams_total{direction=\"up\"} 3", "uvtunnel_udp_datagrams_total{direction=\"down\"} 2",
                         "uvtunnel_udp_bytes_total{direction=\"up\"} 11", "uvtunnel_udp_bytes_total{direction=\"down\"} 4",
                         "uvtunnel_udp_dropped_total{cause=\"queue_full\"} 1", "uvtunnel_udp_dropped_total{cause=\"session_limit\"} 0"] {
                XCTAssertTrue(text.contains(line + "\n"), line)
            }
        }
    }

    func testSessionLimitDropsNewClientsWithOneLine() throws {
        var settings = UDPTunnelServer.Settings()
        settings.maxSessions = 1
        try withRig(settings) { rig in
            rig.tokens.answerToken = .later
            let (first, _) = try rig.client()
            let (second, _) = try rig.client()
            defer { first.close(); second.close() }
            rig.send("a", from: first)
            rig.spin { rig.server.openSessionCount == 1 }
            for _ in 0..<3 { rig.send("b", from: second) }
            rig.spin { rig.server.counters.droppedSessionLimit == 3 }
            XCTAssertEqual(rig.server.openSessionCount, 1)
            let lines = rig.logs.lines.filter { $0.message.contains("UDP session limit of 1 reached") }
            XCTAssertEqual(lines.count, 1, "one line, not one per datagram")
            XCTAssertEqual(lines.first?.level, .warning)
        }
    }

    func testUnauthorizedLeadsToTheSharedSignInAndOneRetry() throws {
        try withRig { rig in
            rig.tokens.answerToken = .now("OLD")
            rig.tokens.answerRejected = .now("NEW")
            let (client, _) = try rig.client()
            defer { client.close() }
            rig.send("x", from: client)
            rig.spin { rig.connector.attempts.count == 1 }
            rig.connector.attempts[0].fail(.answered(status: 401))
            XCTAssertEqual(rig.tokens.rejectedTokens, ["OLD"])
            XCTAssertEqual(rig.connector.attempts.map(\.token), ["OLD", "NEW"])
            rig.connector.attempts[1].fail(.answered(status: 403))
            XCTAssertEqual(rig.server.openSessionCount, 0)
            XCTAssertTrue(rig.logs.lines.contains { $0.message == "refused dns.corp:53: 403 access denied by gateway policy" },
                          "\(rig.logs.lines.map(\.message))")
        }
    }

    func testClientsOutsideAllowFromAreDroppedWithOneLine() throws {
        try withRig(allowFrom: [try AddressRange.parse("10.0.0.0/8")]) { rig in
            let (client, _) = try rig.client()
            defer { client.close() }
            for _ in 0..<3 { rig.send("no", from: client) }
            rig.spin { rig.server.counters.droppedNotAllowed == 3 }
            XCTAssertEqual(rig.server.openSessionCount, 0)
            XCTAssertTrue(rig.connector.attempts.isEmpty, "a stranger never reaches the gateway")
            XCTAssertEqual(rig.logs.lines.filter { $0.message.contains("not in --allow-from 10.0.0.0/8") }.count, 1)
        }
    }

    /// A session with its gateway side open; returns the gateway's end.
    private func openSession(_ rig: Rig) throws -> (UDPSocket, MemoryStream) {
        let (client, _) = try rig.client()
        rig.send("hello", from: client)
        rig.spin { rig.connector.attempts.count == 1 }
        let pair = MemoryStreamPair(loop: rig.loop)
        rig.gateways.append(pair)
        rig.connector.attempts[0].succeed(pair.a)
        return (client, pair.b)
    }

    func testHostileCapsuleEndsTheSessionWithOneLine() throws {
        try withRig { rig in
            let (client, gateway) = try openSession(rig)
            defer { client.close() }
            ReadCollector(gateway, pool: rig.loop.buffers).start()
            gateway.write(rig.loop.buffers.buffers(copying: [0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])) { _ in }
            rig.spin { rig.server.openSessionCount == 0 }
            let lines = rig.logs.lines.filter { $0.message.contains("dns.corp:53") }
            XCTAssertEqual(lines.count, 1, "\(lines)")
            XCTAssertEqual(lines.first?.level, .warning)
            XCTAssertTrue(lines.first?.message.hasSuffix("capsule stream: capsule of 4611686018427387903 bytes, over the 65543-byte limit") ?? false,
                          "\(lines)")
        }
    }

    func testGatewayClosingAfterItsAnswerEndsTheSession() throws {
        try withRig { rig in
            let (client, gateway) = try openSession(rig)
            defer { client.close() }
            ReadCollector(gateway, pool: rig.loop.buffers).start()
            gateway.close()
            rig.spin { rig.server.openSessionCount == 0 }
            XCTAssertEqual(rig.server.counters.sessionsClosed, 1)
            let lines = rig.logs.lines.filter { $0.message.contains("dns.corp:53") }
            XCTAssertEqual(lines.map(\.level), [.info], "\(lines)")
            XCTAssertTrue(lines.first?.message.hasPrefix("disconnected dns.corp:53") ?? false, "\(lines)")
        }
    }
}
