import CShims
import XCTest
@testable import UVTunnel

/// The in-memory pair keeps the promises of a libuv socket that the unit tests
/// above it rely on: later-turn delivery, bounded buffers, half-close, close,
/// and the failure hooks.
final class MemoryStreamPairTests: XCTestCase {
    private func bytes(_ text: String, _ pool: BufferPool) -> [Buffer] { pool.buffers(copying: Array(text.utf8)) }

    func testWriteArrivesOnALaterTurnAndNeverCallsBackInside() throws {
        let loop = try EventLoop()
        let pair = MemoryStreamPair(loop: loop)
        let reader = ReadCollector(pair.b, pool: loop.buffers)
        reader.start()
        var completed = 0
        pair.a.write(bytes("hello", loop.buffers)) { error in
            XCTAssertNil(error)
            completed += 1
        }
        XCTAssertTrue(pair.a.writeNow(bytes(" world", loop.buffers)) { _ in XCTFail("a write taken whole never completes") })
        XCTAssertEqual(completed, 0, "no completion inside write")
        XCTAssertEqual(reader.reads, 0, "no read inside write")
        loop.runOnce(block: false)
        XCTAssertEqual(reader.text, "hello world")
        XCTAssertEqual(completed, 1)
        XCTAssertEqual(pair.a.written, Data("hello world".utf8))
        pair.a.close()
        pair.b.close()
        loop.closeAfterRunning()
        XCTAssertEqual(loop.buffers.outstanding, 0)
    }

    func testAStoppedReaderHoldsBytesAndTheWriterWaitsForRoom() throws {
        let loop = try EventLoop()
        let pair = MemoryStreamPair(loop: loop, capacity: 1000)
        let first = loop.buffers.buffers(copying: [UInt8](repeating: 1, count: 600))
        XCTAssertTrue(pair.a.writeNow(first) { _ in XCTFail("fits: no completion") })
        var completion: StreamError?? = .none
        let second = loop.buffers.buffers(copying: [UInt8](repeating: 2, count: 600))
        XCTAssertFalse(pair.a.writeNow(second) { completion = .some($0) }, "only 400 of 600 fit")
        loop.run()
        XCTAssertTrue(completion == nil, "the write completes only once the reader drained")
        XCTAssertEqual(pair.b.inbound.count, 1000)
        XCTAssertEqual(pair.a.queuedBytes, 200)
        XCTAssertEqual(loop.buffers.outstanding, 1, "the queued remainder's buffer")

        let reader = ReadCollector(pair.b, pool: loop.buffers)
        reader.start()
        loop.run()
        XCTAssertEqual(reader.data, Data([UInt8](repeating: 1, count: 600) + [UInt8](repeating: 2, count: 600)))
        guard case .some(.none) = completion else { return XCTFail("completion: \(String(describing: completion))") }
        pair.a.close()
        pair.b.close()
        loop.closeAfterRunning()
        XCTAssertEqual(loop.buffers.outstanding, 0)
    }

    func testShutdownIsEOFAfterQueuedBytesAndTheOtherWayStillFlows() throws {
        let loop = try EventLoop()
        let pair = MemoryStreamPair(loop: loop, capacity: 100)
        let atB = ReadCollector(pair.b, pool: loop.buffers)
        let atA = ReadCollector(pair.a, pool: loop.buffers)
        let payload = testPayload(10_000)
        let sender = PayloadSender(pair.a, pool: loop.buffers, payload: payload, chunk: 300, shutdownAfter: true)
        sender.start()
        atB.start()
        atA.start()
        loop.run()
        XCTAssertEqual(atB.data, payload)
        XCTAssertEqual(atB.end, .eof)
        XCTAssertTrue(sender.shutdownDone)
        XCTAssertNil(sender.shutdownError)
        // b → a still open after a → b ended.
        PayloadSender(pair.b, pool: loop.buffers, payload: Data("reply".utf8), shutdownAfter: true).start()
        loop.run()
        XCTAssertEqual(atA.text, "reply")
        XCTAssertEqual(atA.end, .eof)
        var refused: StreamError?
        pair.a.write(bytes("late", loop.buffers)) { refused = $0 }
        loop.run()
        XCTAssertEqual(refused?.code, UV_EPIPE.rawValue, "a write after shutdown")
        pair.a.close()
        pair.b.close()
        loop.closeAfterRunning()
        XCTAssertEqual(loop.buffers.outstanding, 0)
    }

    func testCloseIsEOFAtThePeerAndFailsWritesOnBothSides() throws {
        let loop = try EventLoop()
        let pair = MemoryStreamPair(loop: loop, capacity: 10)
        var aWrite: StreamError?
        var bWrite: StreamError?
        pair.a.write(bytes("0123456789abc", loop.buffers)) { aWrite = $0 }  // 3 bytes stay queued
        pair.b.write(bytes("0123456789xyz", loop.buffers)) { bWrite = $0 }
        pair.a.close()
        let atB = ReadCollector(pair.b, pool: loop.buffers)
        atB.start()
        loop.run()
        XCTAssertEqual(aWrite?.isCancelled, true, "the closed end's queued write is cancelled")
        XCTAssertEqual(bWrite?.code, UV_ECONNRESET.rawValue, "the peer's queued write is reset")
        XCTAssertEqual(atB.text, "0123456789", "what was sent before the close, then EOF")
        XCTAssertEqual(atB.end, .eof)
        var late: StreamError?
        XCTAssertFalse(pair.b.writeNow(bytes("late", loop.buffers)) { late = $0 })
        XCTAssertNil(late, "an error too comes on a later turn")
        loop.run()
        XCTAssertEqual(late?.code, UV_ECONNRESET.rawValue)
        pair.b.close()
        loop.closeAfterRunning()
        XCTAssertEqual(loop.buffers.outstanding, 0)
    }

    func testInjectedReadErrorCutAndWriteError() throws {
        let loop = try EventLoop()
        let pair = MemoryStreamPair(loop: loop)
        let atB = ReadCollector(pair.b, pool: loop.buffers)
        atB.start()
        pair.b.cutReads(afterBytes: 4, error: nil)
        PayloadSender(pair.a, pool: loop.buffers, payload: Data("abcdefgh".utf8)).start()
        loop.run()
        XCTAssertEqual(atB.text, "abcd")
        XCTAssertEqual(atB.end, .eof, "cut with EOF: the rest is lost")

        let atA = ReadCollector(pair.a, pool: loop.buffers)
        atA.start()
        pair.a.injectReadError()
        loop.run()
        XCTAssertEqual(atA.end, .error(MemoryStream.error(UV_ECONNRESET, "read").message))

        pair.b.injectWriteError()
        var failed: StreamError?
        XCTAssertFalse(pair.b.writeNow(bytes("x", loop.buffers)) { failed = $0 })
        loop.run()
        XCTAssertEqual(failed?.code, UV_EPIPE.rawValue)
        pair.a.close()
        pair.b.close()
        loop.closeAfterRunning()
        XCTAssertEqual(loop.buffers.outstanding, 0)
    }
}
