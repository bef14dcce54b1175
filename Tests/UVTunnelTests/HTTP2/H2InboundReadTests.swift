import CShims
import XCTest
@testable import UVTunnel

/// H2InboundRead between real nghttp2 sessions: a client session frames a
/// request and its DATA; a server session parses those bytes through
/// `parse`, and its DATA callback offers each payload to `adopt`, as both
/// of uvtunnel's sessions do.
final class H2InboundReadTests: XCTestCase {
    /// The server side's user data: what each payload was offered and kept.
    private final class Receiver {
        let inbound: H2InboundRead
        var payloads: [[UInt8]] = []
        var kept: [Buffer?] = []
        init(inbound: H2InboundRead) { self.inbound = inbound }
    }

    /// The bytes a client sends for one POST whose DATA frames carry
    /// `frames`: each `send` goes out at once, so each is one frame.
    private func clientBytes(frames: [[UInt8]]) -> [UInt8] {
        let client = H2TestPeer(server: false)
        var bytes: [UInt8] = []
        client.output = { bytes += $0 }
        client.submitSettings([])
        let id = client.submitRequest([(":method", "POST"), (":scheme", "https"), (":authority", "t"), (":path", "/")], body: true)
        for (index, frame) in frames.enumerated() { client.send(frame, on: id, end: index == frames.count - 1) }
        return bytes
    }

    /// Parses `bytes` as one read of a buffer from `pool`; the receiver tells what happened.
    private func receive(_ bytes: [UInt8], pool: BufferPool) -> (Receiver, Int) {
        let receiver = Receiver(inbound: H2InboundRead(pool: pool))
        let box = Unmanaged.passRetained(receiver)
        defer { box.release() }
        var callbacks: OpaquePointer?
        XCTAssertEqual(nghttp2_session_callbacks_new(&callbacks), 0)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, _, data, length, userData in
            let receiver = Unmanaged<Receiver>.fromOpaque(userData!).takeUnretainedValue()
            let payload = UnsafeRawBufferPointer(start: data, count: length)
            receiver.payloads.append(Array(payload))
            receiver.kept.append(receiver.inbound.adopt(payload))
            return 0
        }
        var raw: OpaquePointer?
        XCTAssertEqual(nghttp2_session_server_new(&raw, callbacks, box.toOpaque()), 0)
        defer { nghttp2_session_del(raw) }
        let buffer = pool.take()
        XCTAssertEqual(buffer.append(bytes), bytes.count)
        return (receiver, receiver.inbound.parse(buffer, by: raw))
    }

    private func payload(_ count: Int, _ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: count) }

    func testTheFirstPayloadOfHalfABufferKeepsTheReadAndLaterOnesAreCopied() {
        let pool = BufferPool(bufferSize: 32 * 1024, maxCached: 4)
        // 16 KiB: a whole frame at nghttp2's default SETTINGS_MAX_FRAME_SIZE,
        // and exactly half a 32 KiB buffer.
        let frames = [payload(16_384, 1), payload(10_000, 2)]
        let bytes = clientBytes(frames: frames)
        let (receiver, result) = receive(bytes, pool: pool)
        XCTAssertEqual(result, bytes.count, "nghttp2 took the whole read")
        XCTAssertEqual(receiver.payloads, frames)
        XCTAssertEqual(receiver.kept.map { $0 == nil }, [false, true], "one payload per read keeps the buffer")
        XCTAssertEqual(receiver.kept[0]?.bytes, frames[0], "the kept buffer is narrowed to its payload")
        XCTAssertEqual(pool.cachedCount, 0, "a kept read is the stream's to give back, not the pool's")
    }

    func testAReadOfShortPayloadsIsKeptByNoneAndGoesBackToThePool() {
        let pool = BufferPool(bufferSize: 32 * 1024, maxCached: 4)
        // One byte short of half a 32 KiB buffer.
        let frames = [payload(16_383, 1), payload(100, 2)]
        let bytes = clientBytes(frames: frames)
        let (receiver, result) = receive(bytes, pool: pool)
        XCTAssertEqual(result, bytes.count)
        XCTAssertEqual(receiver.payloads, frames)
        XCTAssertEqual(receiver.kept.map { $0 == nil }, [true, true])
        XCTAssertEqual(pool.cachedCount, 1, "the read went back to the pool")
    }

    func testNothingIsKeptOutsideAParse() {
        let pool = BufferPool(bufferSize: 32 * 1024, maxCached: 4)
        let inbound = H2InboundRead(pool: pool)
        let bytes = payload(20_000, 7)
        bytes.withUnsafeBytes { XCTAssertNil(inbound.adopt($0)) }
    }

    func testAProtocolErrorIsTheParseResultAndTheReadGoesBack() {
        let pool = BufferPool(bufferSize: 32 * 1024, maxCached: 4)
        let (receiver, result) = receive(Array("GET / HTTP/1.1\r\n\r\n".utf8), pool: pool)
        XCTAssertLessThan(result, 0, "not an HTTP/2 preface")
        XCTAssertTrue(receiver.payloads.isEmpty)
        XCTAssertEqual(pool.cachedCount, 1)
    }
}
