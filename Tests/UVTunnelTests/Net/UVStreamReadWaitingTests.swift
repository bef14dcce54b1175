import Glibc
import XCTest
@testable import UVTunnel

/// `readWaiting` reads what a peer already sent without waiting for the
/// loop: nothing yet is nil (the caller then starts reading as usual), bytes
/// come whole and in order, a FIN is EOF, and while libuv reads the socket
/// it stays out of the way. A tunnel uses it on a fresh local client so the
/// client's first bytes share the CONNECT's write.
final class UVStreamReadWaitingTests: XCTestCase {
    /// Connects a client to a fresh listener and hands both ends to `body`
    /// once accepted; the loop runs until `body`'s `done` (or 5 s).
    private func withPair(_ body: @escaping (_ loop: EventLoop, _ client: UVStream, _ accepted: UVStream,
                                             _ done: @escaping () -> Void) -> Void) throws {
        let loop = try EventLoop()
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        let client = try UVStream.tcp(loop: loop)
        let watchdog = UVTimer(loop: loop)
        var accepted: UVStream?
        var finished = false
        func finish() {
            guard !finished else { return }
            finished = true
            client.close()
            accepted?.close()
            listener.close()
            watchdog.close()
        }
        watchdog.start(milliseconds: 5_000) {
            XCTFail("timed out")
            finish()
        }
        listener.start { stream in
            accepted = stream
            body(loop, client, stream, finish)
        }
        try client.connect(to: listener.address) { XCTAssertNil($0) }
        loop.run()
        XCTAssertTrue(finished)
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer returned to the pool")
        XCTAssertEqual(loop.close(), 0)
    }

    /// Asks `readWaiting` every millisecond until it has something (bytes
    /// written on loopback can take a moment to be readable).
    private func poll(_ stream: UVStream, on loop: EventLoop, _ got: @escaping (ReadEvent) -> Void) {
        let timer = UVTimer(loop: loop)
        timer.start(milliseconds: 1, repeat: 1) {
            guard let event = stream.readWaiting() else { return }
            timer.close()
            got(event)
        }
    }

    func testNothingSentYetIsNilThenTheBytesThenEOF() throws {
        var first: ReadEvent?
        var bytes: [UInt8] = []
        var sawEOF = false
        try withPair { loop, client, accepted, done in
            first = accepted.readWaiting()
            client.write(loop.buffers.buffers(copying: Array("hello".utf8))) { XCTAssertNil($0) }
            self.poll(accepted, on: loop) { event in
                guard case .data(let buffer) = event else { return done() }
                bytes = buffer.bytes
                loop.buffers.give(buffer)
                client.shutdownWrite { _ in
                    self.poll(accepted, on: loop) { event in
                        if case .eof = event { sawEOF = true }
                        done()
                    }
                }
            }
        }
        XCTAssertNil(first, "nothing was sent yet: nil, not an EOF or an error")
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "hello")
        XCTAssertTrue(sawEOF, "the client's FIN reads as EOF")
    }

    func testAResetPeerIsAnError() throws {
        var event: ReadEvent?
        try withPair { loop, client, accepted, done in
            client.write(loop.buffers.buffers(copying: Array("x".utf8))) { _ in
                // Closing with unread bytes in our own receive queue would
                // not reset; SO_LINGER 0 on the client does, at once.
                var abort = Glibc.linger(l_onoff: 1, l_linger: 0)
                if let fd = client.descriptor {
                    XCTAssertEqual(setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<Glibc.linger>.size)), 0)
                }
                client.close()
                self.poll(accepted, on: loop) { got in
                    if case .data(let buffer) = got {
                        loop.buffers.give(buffer)  // the byte sent before the reset, then the reset
                        return self.poll(accepted, on: loop) { event = $0; done() }
                    }
                    event = got
                    done()
                }
            }
        }
        guard case .error(let error) = event else { return XCTFail("expected a read error, got \(String(describing: event))") }
        XCTAssertTrue(error.meansPeerLeft, "\(error)")
    }

    func testWhileLibuvReadsItStaysOut() throws {
        var whileReading: ReadEvent?
        var viaLibuv: [UInt8] = []
        try withPair { loop, client, accepted, done in
            accepted.onRead = { event in
                if case .data(let buffer) = event {
                    viaLibuv += buffer.bytes
                    loop.buffers.give(buffer)
                    done()
                }
            }
            accepted.startReading()
            client.write(loop.buffers.buffers(copying: Array("abc".utf8))) { _ in
                whileReading = accepted.readWaiting()
            }
        }
        XCTAssertNil(whileReading, "libuv owns the reads while reading is on")
        XCTAssertEqual(String(decoding: viaLibuv, as: UTF8.self), "abc")
    }
}
