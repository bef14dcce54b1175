import XCTest
@testable import UVTunnel

/// `writeNow` hands bytes to the kernel at once when it takes them and queues
/// only the rest: the relay relies on "true" meaning nothing is in flight and
/// the completion never runs, and on "false" meaning the completion runs once,
/// later, with every byte still delivered in order.
final class UVStreamWriteNowTests: XCTestCase {
    func testWriteNowSendsAtOnceOrQueuesTheRestInOrder() throws {
        let loop = try EventLoop()
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        let client = try UVStream.tcp(loop: loop)
        let watchdog = UVTimer(loop: loop)
        var peer: UVStream?
        var expected: [UInt8] = []
        var received: [UInt8] = []
        var completions = 0
        var queuedWrites = 0

        func finish() {
            client.close()
            peer?.close()
            listener.close()
            watchdog.close()
        }
        watchdog.start(milliseconds: 10_000) { finish() }

        /// One pool buffer of `count` bytes that continue the expected sequence.
        func chunk(_ count: Int) -> Buffer {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: (expected.count + $0) &* 13 &+ 5) }
            expected += bytes
            let buffer = loop.buffers.take()
            buffer.append(bytes)
            return buffer
        }

        var connected = false
        // Writes start once the client's connect has completed (before that
        // libuv queues every write) and the peer is accepted.
        func begin() {
            guard connected, let stream = peer else { return }
            // 1. Nobody reads yet: a small write fits in the socket buffer.
            let small = client.writeNow([chunk(100)]) { _ in completions += 1 }
            XCTAssertTrue(small, "the kernel takes 100 bytes at once")
            XCTAssertEqual(loop.buffers.outstanding, 0, "a write done at once gives its buffer back")
            // 2. Fill the kernel's buffers until a remainder has to be queued.
            var attempts = 0
            while client.writeNow([chunk(64 * 1024)], otherwise: { error in
                XCTAssertNil(error)
                completions += 1
            }) {
                attempts += 1
                if attempts > 1_000 { return XCTFail("the socket never filled up") }
            }
            queuedWrites += 1
            // 3. With a write queued, even a tiny one must queue behind it.
            let behind = client.writeNow([chunk(10)]) { error in
                XCTAssertNil(error)
                completions += 1
            }
            XCTAssertFalse(behind, "a write behind a queued one would overtake it")
            queuedWrites += 1
            XCTAssertEqual(completions, 0, "no completion runs before writeNow returns")
            // 4. Now read everything.
            stream.onRead = { event in
                guard case .data(let buffer) = event else { return finish() }
                received += buffer.bytes
                loop.buffers.give(buffer)
                if received.count >= expected.count { finish() }
            }
            stream.startReading()
        }
        listener.start { stream in
            peer = stream
            begin()
        }
        try client.connect(to: listener.address) { error in
            XCTAssertNil(error)
            connected = true
            begin()
        }
        loop.run()

        XCTAssertEqual(queuedWrites, 2)
        XCTAssertEqual(completions, 2, "each queued write completes once; writes done at once never call back")
        XCTAssertEqual(received.count, expected.count)
        XCTAssert(received == expected, "bytes lost or out of order")
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer returned to the pool")
        XCTAssertEqual(loop.close(), 0)
    }
}
