import Glibc
import XCTest
@testable import UVTunnel

/// Keepalive probes of sockets that went idle together must not all leave
/// together: each socket's idle time is spread over a minute by its
/// descriptor number, so a burst of accepted connections gets many
/// different idle times, all within the range.
final class UVStreamKeepAliveTests: XCTestCase {
    func testABurstOfAcceptedSocketsGetsSpreadIdleTimes() throws {
        let idle = try idleTimesOfABurst(listenerSetsOptions: false) { $0.setKeepAlive() }
        assertSpread(idle)
    }

    /// The way the tunnel server does it: keepalive inherited from the
    /// listener, then only the idle time set per socket.
    func testSocketsWithInheritedKeepAliveGetSpreadIdleTimesToo() throws {
        let idle = try idleTimesOfABurst(listenerSetsOptions: true) { $0.spreadKeepAliveIdle() }
        assertSpread(idle)
    }

    private func assertSpread(_ idle: [Int32], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(idle.count, 20, "every accepted socket reports its idle time", file: file, line: line)
        XCTAssert(idle.allSatisfy { (60..<120).contains($0) }, "\(idle)", file: file, line: line)
        XCTAssertGreaterThanOrEqual(Set(idle).count, 10, "spread, not one value: \(idle)", file: file, line: line)
    }

    /// 20 connections accepted at once, each given `keepAlive`; their idle
    /// times, read back from the sockets that still have keepalive on.
    private func idleTimesOfABurst(listenerSetsOptions: Bool, _ keepAlive: @escaping (UVStream) -> Void) throws -> [Int32] {
        let loop = try EventLoop()
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        if listenerSetsOptions { listener.setOptionsForAccepted() }
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
            keepAlive(stream)
            if let fd = stream.descriptor, BlockingSocket.option(fd, SOL_SOCKET, SO_KEEPALIVE) == 1,
               let seconds = BlockingSocket.option(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE) {
                idle.append(seconds)
            }
            if accepted.count == count { finish() }
        }
        for _ in 0..<count {
            let client = try UVStream.tcp(loop: loop)
            clients.append(client)
            try client.connect(to: listener.address) { _ in }  // closed by finish() as soon as all are accepted
        }
        loop.run()
        XCTAssertEqual(loop.close(), 0)
        return idle
    }
}
