import Glibc
import XCTest
@testable import UVTunnel

/// `setOptionsForAccepted`: TCP_NODELAY and keepalive set once on the
/// listening socket reach every accepted socket (Linux copies the listener),
/// keepalive's timer included, so no accept needs a setsockopt for them.
final class TCPListenerAcceptedOptionsTests: XCTestCase {
    func testAcceptedSocketsInheritNoDelayAndKeepAliveWithItsTimer() throws {
        let (options, timerRuns) = try acceptOne(settingOptions: true)
        XCTAssertEqual(options, ["TCP_NODELAY": 1, "SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 1, "TCP_KEEPCNT": 10])
        XCTAssertTrue(timerRuns, "the kernel probes an inherited keepalive")
    }

    /// The control: what the test above sees is the call's doing.
    func testWithoutThemAcceptedSocketsHaveNeither() throws {
        let (options, timerRuns) = try acceptOne(settingOptions: false)
        XCTAssertEqual(options["TCP_NODELAY"], 0)
        XCTAssertEqual(options["SO_KEEPALIVE"], 0)
        XCTAssertFalse(timerRuns)
    }

    /// One connection accepted from a listener set up or not: the accepted
    /// socket's options, and whether its keepalive timer runs.
    private func acceptOne(settingOptions: Bool) throws -> (options: [String: Int32?], timerRuns: Bool) {
        let loop = try EventLoop()
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        if settingOptions { listener.setOptionsForAccepted() }
        let client = BlockingSocket.connected(to: listener.address)
        defer { Glibc.close(client) }
        var options: [String: Int32?] = [:]
        var timerRuns = false
        let watchdog = UVTimer(loop: loop)
        watchdog.start(milliseconds: 5_000) {
            XCTFail("nothing accepted")
            listener.close()
            watchdog.close()
        }
        listener.start { stream in
            if let fd = stream.descriptor { options = BlockingSocket.keepAliveOptions(fd) }
            if let port = BlockingSocket.localPort(client) {
                timerRuns = BlockingSocket.keepAliveTimerRuns(localPort: listener.address.port, peerPort: port)
            }
            stream.close()
            listener.close()
            watchdog.close()
        }
        loop.run()
        XCTAssertEqual(loop.close(), 0)
        return (options, timerRuns)
    }
}
