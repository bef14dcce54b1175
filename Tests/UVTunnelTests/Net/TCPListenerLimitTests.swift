import CShims
import XCTest
@testable import UVTunnel

/// A listener made while the process is at its descriptor limit: with an
/// address family, `uv_tcp_init_ex` makes the socket at once, and when that
/// fails libuv has already unlinked the handle from the loop. The listener
/// must throw an error that names what failed and leave no handle behind
/// (closing it would unlink it again and cut later handles out of the loop).
final class TCPListenerLimitTests: XCTestCase {
    func testListenerAtTheDescriptorLimitThrowsAndLeavesTheLoopIntact() throws {
        let loop = try EventLoop()
        // A handle made before the failure, still open after it.
        let earlier = UVTimer(loop: loop)
        let address = try SocketAddress(ip: "127.0.0.1", port: 0)

        let thrown = try FullDescriptorTable.whileFull { () -> UVError? in
            do throws(UVError) {
                let listener = try TCPListener(loop: loop, address: address)
                listener.close()
                return nil
            } catch {
                return error
            }
        }
        let error = try XCTUnwrap(thrown, "the listener was made with no descriptor to spare")
        XCTAssertEqual(error.code, UV_EMFILE.rawValue)
        XCTAssertEqual(error.description, "make a socket to listen on 127.0.0.1:0: too many open files")
        XCTAssertEqual(loop.handleCount, 1, "the failed listener left no handle")

        var fired = false
        earlier.start(milliseconds: 1) { fired = true }
        try LoopIntactCheck.assertIntact(loop, alreadyOpen: 1)
        XCTAssertTrue(fired, "the handle made before the failure still works")
        earlier.close()
        loop.run()
        XCTAssertEqual(loop.close(), 0, "no handle left open")
    }

    /// The same listener made the moment descriptors are free again listens.
    func testListenerMadeAfterTheLimitListens() throws {
        let loop = try EventLoop()
        let address = try SocketAddress(ip: "127.0.0.1", port: 0)
        _ = try FullDescriptorTable.whileFull { try? TCPListener(loop: loop, address: address) }
        let listener = try TCPListener(loop: loop, address: address)
        XCTAssertNotEqual(listener.address.port, 0)
        listener.close()
        loop.run()
        XCTAssertEqual(loop.close(), 0)
    }
}
