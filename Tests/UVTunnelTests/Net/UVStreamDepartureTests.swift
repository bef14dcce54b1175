import CShims
import Glibc
import XCTest
@testable import UVTunnel

/// `UVStream.departure()`, asked of a socket nobody reads (a relay's paused
/// source): a half-close (FIN) is not a departure, a reset is, and neither
/// is seen by reading. The client is a plain socket, so the test decides
/// exactly what reaches uvtunnel's side: bytes it never reads, then a FIN,
/// then a RST.
final class UVStreamDepartureTests: XCTestCase {
    func testAHalfCloseIsNotADepartureAndAResetIs() throws {
        let loop = try EventLoop()
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        let check = UVTimer(loop: loop)
        var accepted: UVStream?
        var afterFIN: StreamError?? = .none
        var afterReset: StreamError?

        // 1,000 bytes never read by uvtunnel's side.
        let client = BlockingSocket.connected(to: listener.address, sending: [UInt8](repeating: 1, count: 1000))
        var clientOpen = true
        defer { if clientOpen { Glibc.close(client) } }

        listener.start { stream in
            accepted = stream
            XCTAssertNil(stream.departure(), "a connected peer has not left")
            shutdown(client, Int32(SHUT_WR))  // FIN: the client may still be reading
            check.start(milliseconds: 100) {
                afterFIN = .some(stream.departure())
                var linger = linger(l_onoff: 1, l_linger: 0)
                setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
                Glibc.close(client)  // with SO_LINGER 0: RST
                clientOpen = false
                check.start(milliseconds: 100) {
                    afterReset = stream.departure()
                    stream.close()
                    listener.close()
                    check.close()
                }
            }
        }
        loop.run()
        loop.close()
        XCTAssertNotNil(accepted)
        XCTAssertEqual(afterFIN.map { $0 == nil }, true, "a half-close is not a departure: \(String(describing: afterFIN))")
        // Linux reports a reset that follows the peer's FIN as EPIPE (tcp_reset
        // in CLOSE_WAIT), one without a FIN before it as ECONNRESET.
        XCTAssertEqual(afterReset?.code, UV_EPIPE.rawValue, "a reset is: \(String(describing: afterReset))")
        XCTAssertEqual(afterReset?.meansPeerLeft, true)
    }
}
