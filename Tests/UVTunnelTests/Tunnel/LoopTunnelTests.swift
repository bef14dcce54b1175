import Logging
import XCTest
@testable import UVTunnel
import UVTunnelGateway

/// Tunnel client, gateway and target on one event loop in this process: the
/// whole data path with real sockets, then a check that every handle closed
/// (`uv_loop_close == 0`) and every buffer went back to its pool.
final class LoopTunnelTests: XCTestCase {
    private var logger: Logger { .quiet }

    func testTunnelThroughGatewayOnOneLoopLeavesNothingOpen() throws {
        let loop = try EventLoop()
        let loopback = try SocketAddress(ip: "127.0.0.1", port: 0)

        let echo = try LoopEcho(loop: loop, address: loopback)

        let fixture = try LoopGatewayFixture(loop: loop, on: loopback, logger: logger)
        let gateway = fixture.gateway
        let tunnels = TunnelServer(loop: loop, options: try fixture.tunnelOptions(to: echo.address),
                                   tokens: FixedTokenSource(token: "secret"), logger: logger)
        let tunnelAddress = try tunnels.listen(on: loopback)

        let payload = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        var received: [UInt8] = []
        var finished = false
        let client = try UVStream.tcp(loop: loop)
        try client.connect(to: tunnelAddress) { error in
            XCTAssertNil(error)
            var chunks: [Buffer] = []
            var offset = 0
            while offset < payload.count {
                let buffer = loop.buffers.take()
                offset += buffer.append(payload[offset...])
                chunks.append(buffer)
            }
            client.write(chunks) { error in
                XCTAssertNil(error)
                client.shutdownWrite { XCTAssertNil($0) }
            }
            client.onRead = { event in
                switch event {
                case .data(let buffer):
                    received += buffer.bytes
                    loop.buffers.give(buffer)
                case .eof, .error:
                    finished = true
                    client.close()
                    tunnels.shutdown(drainMilliseconds: 1000)
                    gateway.close()
                    echo.close()
                }
            }
            client.startReading()
        }
        loop.run()

        XCTAssertTrue(finished)
        XCTAssertEqual(received.count, payload.count)
        XCTAssert(received == payload, "echo differs")
        XCTAssertEqual(tunnels.counters.completed, 1)
        XCTAssertEqual(gateway.answers[200], 1)
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer returned to the pool")
        XCTAssertEqual(loop.close(), 0, "no handle left open")
    }

    func testRefusedTunnelClosesLocalSideAndLeavesNothingOpen() throws {
        let loop = try EventLoop()
        let loopback = try SocketAddress(ip: "127.0.0.1", port: 0)
        let gateway = GatewayServer(loop: loop, options: GatewayOptions(tls: nil, verifyToken: { _ in .invalid("no") }), logger: logger)
        let gatewayAddress = try gateway.listen(on: loopback)
        let route = try Route.parse("127.0.0.1:9", pomeriumURL: "http://127.0.0.1:\(gatewayAddress.port)")
        let rejected = RejectionRecorder()
        let tunnels = TunnelServer(loop: loop, options: TunnelOptions(route: route, tls: nil),
                                   tokens: rejected, logger: logger)
        let tunnelAddress = try tunnels.listen(on: loopback)
        var sawEnd = false
        let client = try UVStream.tcp(loop: loop)
        try client.connect(to: tunnelAddress) { error in
            XCTAssertNil(error)
            client.onRead = { event in
                if case .data(let buffer) = event { return loop.buffers.give(buffer) }
                sawEnd = true
                client.close()
                tunnels.shutdown(drainMilliseconds: 0)
                gateway.close()
            }
            client.startReading()
        }
        loop.run()
        XCTAssertTrue(sawEnd)
        XCTAssertEqual(tunnels.counters.refused, 1)
        XCTAssertEqual(gateway.answers[401], 1)
        XCTAssertEqual(rejected.rejected, ["stale"], "a 401 drops the token")
        XCTAssertEqual(loop.buffers.outstanding, 0)
        XCTAssertEqual(loop.close(), 0)
    }
}

private final class RejectionRecorder: TokenSource {
    var rejected: [String?] = []
    func token(waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability { .now("stale") }
    func rejected(_ token: String?, waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability {
        rejected.append(token)
        return .failed(SignInFailure("no sign-in in this test"))
    }
}

/// An echo server on the loop: each read is written back; EOF is answered with
/// a half-close, and the stream closes when the write side is done.
final class LoopEcho {
    private let listener: TCPListener
    var address: SocketAddress { listener.address }

    init(loop: EventLoop, address: SocketAddress) throws {
        listener = try TCPListener(loop: loop, address: address)
        listener.start { stream in
            stream.onRead = { [unowned stream] event in
                switch event {
                case .data(let buffer):
                    stream.stopReading()
                    stream.write([buffer]) { _ in stream.startReading() }
                case .eof:
                    stream.shutdownWrite { _ in stream.close() }
                case .error:
                    stream.close()
                }
            }
            stream.startReading()
        }
    }

    func close() { listener.close() }
}
