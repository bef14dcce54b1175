import Foundation
import XCTest
@testable import UVTunnel

/// Test payloads: `count` bytes in a pattern that does not repeat at any
/// buffer or record size a test uses, so a lost, doubled or reordered chunk
/// shows as a mismatch.
func testPayload(_ count: Int, seed: UInt32 = 1) -> Data {
    var data = Data(count: (count + 3) / 4 * 4)
    data.withUnsafeMutableBytes { raw in
        var state = seed &* 2_654_435_761 | 1
        for word in 0..<raw.count / 4 {
            // xorshift32, a word at a time: cheap even in a debug build, and
            // no period a buffer size divides.
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            raw.storeBytes(of: state, toByteOffset: word * 4, as: UInt32.self)
        }
    }
    return data.prefix(count)
}

/// Writes a payload through a stream as a relay would: buffers from the pool,
/// `writeNow`, and on false waits for the completion before writing more.
/// Optionally ends its direction with `shutdownWrite` afterwards.
final class PayloadSender {
    private let stream: ByteStream
    private let pool: BufferPool
    private let payload: Data
    private let chunk: Int
    private let shutdownAfter: Bool
    private(set) var offset = 0
    private(set) var waitingForCompletion = false
    private(set) var error: StreamError?
    private(set) var shutdownDone = false
    private(set) var shutdownError: StreamError?
    var isDone: Bool { offset == payload.count && !waitingForCompletion }

    init(_ stream: ByteStream, pool: BufferPool, payload: Data, chunk: Int = 16 * 1024, shutdownAfter: Bool = false) {
        self.stream = stream
        self.pool = pool
        self.payload = payload
        self.chunk = chunk
        self.shutdownAfter = shutdownAfter
    }

    func start() { pump() }

    private func pump() {
        while offset < payload.count {
            let buffer = pool.take()
            let n = min(chunk, payload.count - offset, buffer.freeSpace)
            payload.withUnsafeBytes { bytes in
                _ = buffer.fill { base, _ in
                    base.copyMemory(from: bytes.baseAddress! + offset, byteCount: n)
                    return n
                }
            }
            offset += n
            // Strong: a sender nobody else holds lives until its write is done.
            let sent = stream.writeNow([buffer]) { error in
                self.waitingForCompletion = false
                if let error { return self.error = self.error ?? error }
                self.pump()
            }
            if !sent {
                waitingForCompletion = true
                return
            }
        }
        if shutdownAfter {
            stream.shutdownWrite { error in
                self.shutdownDone = true
                self.shutdownError = error
            }
        }
    }
}

/// Reads a stream into memory and remembers how it ended.
final class ReadCollector {
    enum End: Equatable { case eof, error(String) }

    private let stream: ByteStream
    private let pool: BufferPool
    private(set) var data = Data()
    private(set) var reads = 0
    private(set) var end: End?
    /// Stop reading (and so push back on the writer) once this many bytes came.
    var pauseAfter: Int?
    /// Runs after each read, for tests that act at a given point.
    var onData: ((ReadCollector) -> Void)?

    init(_ stream: ByteStream, pool: BufferPool) {
        self.stream = stream
        self.pool = pool
        // Strong, so a collector nobody else holds still returns every buffer;
        // the cycle ends when the stream closes (which drops `onRead`).
        stream.onRead = { event in self.handle(event) }
    }

    func start() { stream.startReading() }

    private func handle(_ event: ReadEvent) {
        switch event {
        case .data(let buffer):
            XCTAssertNil(end, "data after the end")
            buffer.withReadableBytes { data.append($0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: $0.count) }
            pool.give(buffer)
            reads += 1
            if let pauseAfter, data.count >= pauseAfter {
                self.pauseAfter = nil
                stream.stopReading()
            }
            onData?(self)
        case .eof:
            XCTAssertNil(end, "a second end")
            end = .eof
        case .error(let error):
            XCTAssertNil(end, "a second end")
            end = .error(error.message)
        }
    }

    var text: String { String(decoding: data, as: UTF8.self) }
}

extension EventLoop {
    /// Runs until nothing is left to do, then checks the loop can close: every
    /// handle the test made was closed. Call at the end of a test.
    func closeAfterRunning(file: StaticString = #filePath, line: UInt = #line) {
        run()
        XCTAssertEqual(close(), 0, "a handle is still open", file: file, line: line)
    }
}
