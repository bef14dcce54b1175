import XCTest
@testable import UVTunnel

/// Keepalive probes of sockets that went idle together must not all leave
/// together: each socket's idle time is spread over a minute by its
/// descriptor number, so a burst of accepted connections gets many
/// different idle times, all within the range.
final class UVStreamKeepAliveTests: XCTestCase {
    func testABurstOfAcceptedSocketsGetsSpreadIdleTimes() throws {
        let loop = try EventLoop()
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        let count = 20
        var clients: [UVStream] = []
        var accepted: [UVStream] = []
        var idle: [Int32] = []
        let watchdog = UVTimer(loop: loop)
        func finish() {
            (clients + accepted).forEach { $0.close() }
            listener.close()
            watchdog.close()
        }
        watchdog.start(milliseconds: 5_000) { finish() }
        listener.start { stream in
            accepted.append(stream)
            stream.setKeepAlive()
            if let seconds = stream.keepAliveIdleSeconds { idle.append(seconds) }
            if accepted.count == count { finish() }
        }
        for _ in 0..<count {
            let client = try UVStream.tcp(loop: loop)
            clients.append(client)
            try client.connect(to: listener.address) { _ in }  // closed by finish() as soon as all are accepted
        }
        loop.run()
        XCTAssertEqual(loop.close(), 0)
        XCTAssertEqual(idle.count, count, "every accepted socket reports its idle time")
        XCTAssert(idle.allSatisfy { (60..<120).contains($0) }, "\(idle)")
        XCTAssertGreaterThanOrEqual(Set(idle).count, count / 2, "spread, not one value: \(idle)")
    }
}
