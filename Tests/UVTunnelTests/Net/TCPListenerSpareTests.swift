import CShims
import Foundation
import Glibc
import XCTest
@testable import UVTunnel

/// Accept at the descriptor limit when libuv's own spare descriptor is gone
/// (another thread took its slot when libuv closed it): libuv then reports
/// EMFILE and calls accept again at once, in a loop that would never return
/// while the table stays full. The loop's second spare, handed to libuv then,
/// lets libuv shed the backlog, so the turn ends, and the listener serves once
/// descriptors are free.
final class TCPListenerSpareTests: XCTestCase {
    /// The loop, for the one turn a watchdog thread waits on.
    private final class LoopTurn: @unchecked Sendable {
        let loop: EventLoop
        init(_ loop: EventLoop) { self.loop = loop }
    }

    func testABacklogAtTheLimitIsShedWithoutLibuvsSpare() throws {
        let loop = try EventLoop()
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        var errors: [UVError] = []
        var accepted: [UVStream] = []
        listener.onAcceptError = { errors.append($0) }
        listener.start { accepted.append($0) }
        XCTAssertTrue(loop.spareDescriptor.isHeld)

        // libuv's spare, lost as if another thread had taken its slot.
        let libuvSpare = loop.raw.pointee.emfile_fd
        XCTAssertGreaterThanOrEqual(libuvSpare, 0, "libuv keeps a spare once a stream exists")
        close(libuvSpare)
        loop.raw.pointee.emfile_fd = -1

        // Clients made before the table fills; they connect while it is full.
        let clients = (0..<3).map { _ in BlockingSocket.make() }
        defer { for client in clients where client >= 0 { close(client) } }
        XCTAssert(clients.allSatisfy { $0 >= 0 })
        try FullDescriptorTable.whileFull {
            for client in clients {
                XCTAssertEqual(BlockingSocket.connect(client, to: listener.address), 0, "a loopback connect completes into the backlog")
            }
            let turn = LoopTurn(loop)
            let finished = DispatchSemaphore(value: 0)
            Thread {
                turn.loop.runOnce(block: false)
                finished.signal()
            }.start()
            if finished.wait(timeout: .now() + 20) == .timedOut {
                // The loop thread spins inside libuv and cannot be stopped:
                // end the run rather than leave it burning a core.
                XCTFail("the loop turn did not end: libuv's accept loop spins on EMFILE")
                print("TCPListenerSpareTests: the loop spins on EMFILE; ending the test run")
                exit(1)
            }
        }
        XCTAssertEqual(errors.first?.code, UV_EMFILE.rawValue, "the failed accept is reported")
        XCTAssertTrue(accepted.isEmpty)
        // Each waiting client was accepted and closed: EOF or a reset, no hang.
        for client in clients {
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var byte: UInt8 = 0
            let count = recv(client, &byte, 1, 0)
            XCTAssert(count == 0 || (count < 0 && errno == ECONNRESET), "recv gave \(count), errno \(errno)")
        }

        // Descriptors are free again: the listener serves, and the spare is back.
        XCTAssertGreaterThanOrEqual(loop.raw.pointee.emfile_fd, 0, "libuv has a spare again")
        let later = BlockingSocket.connected(to: listener.address)
        defer { close(later) }
        let deadline = Date().addingTimeInterval(10)
        while accepted.isEmpty && Date() < deadline { loop.runOnce(block: false) }
        XCTAssertEqual(accepted.count, 1, "the listener still accepts")
        XCTAssertTrue(loop.spareDescriptor.isHeld, "a new reserve once there is room")
        for stream in accepted { stream.close() }
        listener.close()
        loop.run()
        XCTAssertEqual(loop.close(), 0)
    }
}
