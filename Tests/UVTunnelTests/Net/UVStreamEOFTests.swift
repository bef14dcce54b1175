import XCTest
@testable import UVTunnel

/// The end of a stream must reach `onRead` however libuv reports it. When
/// our side has already half-closed and the peer's last bytes and FIN arrive
/// together, epoll says POLLIN|POLLHUP: libuv reads the bytes (a partial
/// read), then reports EOF straight from POLLHUP *without* asking for a
/// buffer (uv__stream_io calls read_cb with {NULL, 0}). UVStream used to
/// drop any read callback without a lent buffer, so that EOF vanished,
/// libuv stopped reading, and the tunnel waited forever: found when
/// LoopTunnelTests hung under AddressSanitizer (Tests/sanitize).
final class UVStreamEOFTests: XCTestCase {
    func testEOFArrivingWithTheLastBytesAfterOurHalfCloseIsDelivered() throws {
        let loop = try EventLoop()
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        let client = try UVStream.tcp(loop: loop)
        let watchdog = UVTimer(loop: loop)
        let delay = UVTimer(loop: loop)
        var peer: UVStream?
        var received: [UInt8] = []
        var sawEOF = false

        func finish() {
            client.close()
            peer?.close()
            listener.close()
            watchdog.close()
            delay.close()
        }
        watchdog.start(milliseconds: 5_000) { finish() }  // EOF never came

        // 1. We half-close first (our FIN), before reading anything.
        try client.connect(to: listener.address) { error in
            XCTAssertNil(error)
            client.shutdownWrite { XCTAssertNil($0) }
        }
        // 2. The peer sees our FIN, then sends its last bytes and its FIN.
        listener.start { stream in
            peer = stream
            stream.onRead = { event in
                switch event {
                case .data(let buffer):
                    loop.buffers.give(buffer)
                case .eof:
                    stream.write(loop.buffers.buffers(copying: Array("last words".utf8))) { XCTAssertNil($0) }
                    stream.shutdownWrite { _ in
                        // 3. Only now start reading: bytes, FIN and our own FIN
                        // are all there, so one wake-up reports POLLIN|POLLHUP.
                        delay.start(milliseconds: 50) { client.startReading() }
                    }
                case .error(let error):
                    XCTFail("peer: \(error)")
                }
            }
            stream.startReading()
        }
        client.onRead = { event in
            switch event {
            case .data(let buffer):
                received += buffer.bytes
                loop.buffers.give(buffer)
            case .eof:
                sawEOF = true
                finish()
            case .error(let error):
                XCTFail("client: \(error)")
                finish()
            }
        }
        loop.run()

        XCTAssertEqual(String(decoding: received, as: UTF8.self), "last words")
        XCTAssertTrue(sawEOF, "the peer's EOF was lost: the stream would hang")
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer returned to the pool")
        XCTAssertEqual(loop.close(), 0)
    }
}
