import XCTest
@testable import UVTunnel

/// After a handle failed to be made, proves its loop is intact. A handle that
/// libuv had already unlinked and that is then closed anyway is unlinked a
/// second time one loop turn later, which cuts every handle initialised since
/// out of the loop's handle queue: so new handles are made here, a turn runs,
/// and all of them must still be in the queue; then the listener accepts the
/// client, the timer fires, and everything made here is closed again.
enum LoopIntactCheck {
    /// `alreadyOpen`: the handles the test itself still holds on `loop`.
    static func assertIntact(_ loop: EventLoop, alreadyOpen: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        let client = try UVStream.tcp(loop: loop)
        let timer = UVTimer(loop: loop)
        let watchdog = UVTimer(loop: loop)
        loop.runOnce(block: false)
        XCTAssertEqual(loop.handleCount, alreadyOpen + 4, "every handle made after the failure is in the loop", file: file, line: line)

        var accepted = false, connected = false, fired = false, timedOut = false
        listener.start { stream in
            accepted = true
            stream.close()
        }
        try client.connect(to: listener.address) { error in
            XCTAssertNil(error, file: file, line: line)
            connected = true
        }
        timer.start(milliseconds: 1) { fired = true }
        watchdog.start(milliseconds: 5000) { timedOut = true }
        while !(accepted && connected && fired) && !timedOut { loop.runOnce() }
        XCTAssertFalse(timedOut, "accepted \(accepted), connected \(connected), timer fired \(fired)", file: file, line: line)

        for close in [listener.close, client.close, timer.close, watchdog.close] { close() }
        for _ in 0..<10 where loop.handleCount > alreadyOpen { loop.runOnce(block: false) }
        XCTAssertEqual(loop.handleCount, alreadyOpen, "the check's handles closed", file: file, line: line)
    }
}
