import Foundation
import Logging
import XCTest
@testable import UVTunnel

/// HTTP2Connector+UDP: a UDP session is an extended CONNECT stream on the
/// shared connection when the gateway's SETTINGS announce
/// ENABLE_CONNECT_PROTOCOL, and its own HTTP/1.1 connect-udp upgrade when
/// they do not; one info line per gateway says which.
final class HTTP2ConnectorUDPTests: H2GatewayLoopTestCase {
    private let log = LogCapture()
    override var startsGateway: Bool { false }

    private func connector(connectTimeoutMilliseconds: UInt64 = 15_000) throws -> HTTP2Connector {
        let options = try gatewayOptions(to: "dns.internal:53", connectTimeoutMilliseconds: connectTimeoutMilliseconds)
        var client = gatewayTLSOptions()
        client.alpnProtocols = ["h2", "http/1.1"]
        return HTTP2Connector(loop: loop, options: options, tls: try TLSContext.client(client), logger: log.logger(level: .info))
    }

    func testSessionsAreExtendedConnectStreamsWhenTheGatewayAnnouncesIt() throws {
        gateway = try H2TLSGateway(loop: loop, extendedConnect: true)
        let connector = try connector()
        var results: [Result<ByteStream, TunnelFailure>] = []
        let attempts = (0..<3).map { _ in connector.openUDP(destination: "dns.internal:53", token: "t") { results.append($0) } }
        spin("three answers") { results.count == 3 }
        let streams = results.compactMap { try? $0.get() }
        XCTAssertEqual(streams.count, 3, "\(results)")
        XCTAssert(attempts.allSatisfy { $0.stage == .finished })
        XCTAssert(streams.allSatisfy { $0 is HTTP2Stream }, "each session is a stream on the shared connection")
        XCTAssertEqual(gateway.acceptedCount, 1)
        let server = try XCTUnwrap(gateway.connections.first?.server)
        let headers = try XCTUnwrap(server.streams[server.order[0]]?.headers)
        XCTAssertEqual(headers.filter { $0.0.hasPrefix(":") }.map { "\($0.0) \($0.1)" }.sorted(),
                       [":authority dns.internal:53", ":method CONNECT", ":path /.well-known/masque/udp/dns.internal/53/",
                        ":protocol connect-udp", ":scheme https"])
        XCTAssertEqual(headers.first { $0.0 == "capsule-protocol" }?.1, "?1")
        XCTAssertEqual(headers.first { $0.0 == "authorization" }?.1, "Pomerium t")
        // Capsules go as the stream's DATA.
        let capsule = CapsuleEncoder.datagram([1, 2, 3])
        streams[0].write(loop.buffers.buffers(copying: capsule)) { _ in }
        spin("the capsule") { server.streams[server.order[0]]?.received == capsule }
        XCTAssertEqual(log.lines(atLeast: .info).filter { $0.message.contains("UDP sessions through") }.map(\.message),
                       ["UDP sessions through https://127.0.0.1:\(gateway.address.port) use HTTP/2 streams (extended CONNECT, connect-udp) on the shared connections"])
        streams.forEach { $0.close() }
        spin("the resets") { server.streams.values.allSatisfy { $0.resetCode != nil || $0.ended } }
        connector.shutdown()
    }

    /// Without ENABLE_CONNECT_PROTOCOL no stream is opened: the session dials
    /// its own connection for the HTTP/1.1 upgrade (this gateway never
    /// answers it, so the attempt times out waiting for connect-udp's answer).
    func testSessionsGoOverHTTP1WhenTheGatewayDoesNotAnnounceIt() throws {
        gateway = try H2TLSGateway(loop: loop, extendedConnect: false)
        let connector = try connector(connectTimeoutMilliseconds: 1_000)
        // A tcp tunnel first: the shared connection is up, its SETTINGS known.
        var tcp: Result<ByteStream, TunnelFailure>?
        let tcpAttempt = connector.open(destination: "db.internal:5432", token: nil) { tcp = $0 }
        spin("the tcp tunnel") { tcp != nil }
        gateway.muted = true  // the HTTP/1.1 upgrade is never answered
        var udp: Result<ByteStream, TunnelFailure>?
        let udpAttempt = connector.openUDP(destination: "dns.internal:53", token: nil) { udp = $0 }
        spin("the UDP attempt to end") { udp != nil }
        guard case .failure(.timedOut(_, _, let activity)) = udp else { return XCTFail("\(String(describing: udp))") }
        XCTAssertTrue(activity.contains("to answer connect-udp dns.internal:53"), activity)
        XCTAssertFalse(activity.contains("HTTP/2"), activity)
        XCTAssertEqual(gateway.acceptedCount, 2, "the session had its own connection")
        XCTAssertEqual(gateway.connections.first?.server.order.count, 1, "no stream for the UDP session")
        XCTAssertEqual(log.lines(atLeast: .info).filter { $0.message.contains("UDP sessions through") }.count, 1)
        XCTAssertTrue(log.lines.contains { $0.message.contains("use HTTP/1.1, one gateway connection each") }, "\(log.lines)")
        XCTAssertEqual([tcpAttempt.stage, udpAttempt.stage], [.finished, .finished])
        try tcp?.get().close()
        connector.shutdown()
    }
}
