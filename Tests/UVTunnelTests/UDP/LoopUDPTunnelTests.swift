import Logging
import XCTest
@testable import UVTunnel
import UVTunnelGateway

/// `uvtunnel udp`'s whole path on one event loop in this process: client
/// socket, UDPTunnelServer, HTTP1Connector's connect-udp over TLS, the
/// bundled gateway's 101 and relay, a UDP echo; then every handle closed
/// (`uv_loop_close == 0`) and every buffer back in its pool.
final class LoopUDPTunnelTests: XCTestCase {
    private var logger: Logger { .quiet }

    func testDatagramsThroughGatewayOnOneLoopLeaveNothingOpen() throws {
        let loop = try EventLoop()
        let loopback = try SocketAddress(ip: "127.0.0.1", port: 0)
        let echo = try UDPSocket(loop: loop, binding: loopback)
        try echo.startReceiving { buffer, sender in echo.send(buffer, to: sender) }

        let fixture = try LoopGatewayFixture(loop: loop, on: loopback, logger: logger)
        let gateway = fixture.gateway
        let server = UDPTunnelServer(loop: loop, options: try fixture.tunnelOptions(to: echo.address),
                                     tokens: FixedTokenSource(token: "secret"), logger: logger)
        let serverAddress = try server.listen(on: loopback)

        let payloads: [[UInt8]] = [[1], (0..<1_200).map { UInt8(truncatingIfNeeded: $0) }, [UInt8](repeating: 9, count: 65_507)]
        var received: [[UInt8]] = []
        let client = try UDPSocket(loop: loop, binding: loopback)
        try client.startReceiving { buffer, _ in
            received.append(buffer.bytes)
            loop.buffers.give(buffer)
            guard received.count == payloads.count else { return }
            client.close()
            server.close()
            gateway.close()
            echo.close()
        }
        for payload in payloads {
            let buffer = loop.buffers.take()
            buffer.append(payload)
            client.send(buffer, to: serverAddress)
        }
        loop.run()

        XCTAssertEqual(received, payloads, "in order, byte-exact (loopback keeps order)")
        XCTAssertEqual(server.counters.sessionsOpened, 1)
        XCTAssertEqual(server.counters.sessionsClosed, 1)
        XCTAssertEqual(gateway.answers[101], 1)
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer returned to the pool")
        XCTAssertEqual(loop.close(), 0, "no handle left open")
    }
}
