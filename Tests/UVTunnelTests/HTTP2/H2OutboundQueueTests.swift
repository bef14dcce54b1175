import XCTest
@testable import UVTunnel

/// What a DATA frame's payload becomes in the transport write: a short one
/// is copied behind what the write already holds (its frame header, other
/// streams' frames), so they share TLS records; a long one goes as the
/// stream's own buffers; the queue's emptied buffers go back to the pool.
final class H2OutboundQueueTests: XCTestCase {
    private let pool = BufferPool(bufferSize: 64 * 1024, maxCached: 8)

    private func buffer(_ bytes: [UInt8]) -> Buffer {
        let buffer = pool.take()
        buffer.append(bytes)
        return buffer
    }

    func testAShortPayloadIsCopiedBehindTheWriteAndItsBuffersGoBack() {
        var queue = H2OutboundQueue()
        queue.append(buffer(Array(repeating: 1, count: 100)))
        queue.append(buffer(Array(repeating: 2, count: 50)))
        var chunks = [buffer(Array(repeating: 9, count: 9))]  // a frame header already gathered
        queue.take(120, into: &chunks, pool: pool)
        XCTAssertEqual(chunks.count, 1, "header and payload in one buffer: one TLS record")
        XCTAssertEqual(chunks[0].bytes, Array(repeating: 9, count: 9) + Array(repeating: 1, count: 100) + Array(repeating: 2, count: 20))
        XCTAssertEqual(queue.bytes, 30)
        XCTAssertEqual(queue.buffers.count, 1, "the emptied buffer went back to the pool")
        XCTAssertEqual(pool.outstanding, 2)
        queue.drain(to: pool)
        chunks.forEach { pool.give($0) }
        XCTAssertEqual(pool.outstanding, 0)
    }

    func testALongPayloadGoesAsTheStreamsOwnBuffers() {
        var queue = H2OutboundQueue()
        let payload = buffer(Array(repeating: 3, count: H2OutboundQueue.copyLimit))
        queue.append(payload)
        var chunks = [buffer(Array(repeating: 9, count: 9))]
        queue.take(H2OutboundQueue.copyLimit, into: &chunks, pool: pool)
        XCTAssertEqual(chunks.count, 2)
        XCTAssertTrue(chunks[1] === payload, "moved, not copied")
        XCTAssertEqual(queue.bytes, 0)
        chunks.forEach { pool.give($0) }
        XCTAssertEqual(pool.outstanding, 0)
    }
}
