import XCTest
@testable import UVTunnel

/// The bytes that came in the same read as a CONNECT answer are the stream's
/// first read, before anything the inner stream reads, on every path.
final class PrefixedStreamTests: XCTestCase {
    private func withPair(_ body: (EventLoop, MemoryStreamPair) throws -> Void) rethrows {
        let loop = try! EventLoop()
        do {
            let pair = MemoryStreamPair(loop: loop)
            try body(loop, pair)
            pair.a.close()
            pair.b.close()
        }
        loop.closeAfterRunning()
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer back in the pool")
    }

    private func prefixed(_ pair: MemoryStreamPair, _ loop: EventLoop, _ text: String) -> PrefixedStream {
        PrefixedStream(pair.a, first: loop.buffers.buffers(copying: Array(text.utf8))[0], pool: loop.buffers)
    }

    func testThePrefixIsTheFirstReadThenTheInnerStream() {
        withPair { loop, pair in
            PayloadSender(pair.b, pool: loop.buffers, payload: Data("and later".utf8), shutdownAfter: true).start()
            loop.run()  // the later bytes are waiting before anyone reads
            let stream = prefixed(pair, loop, "early, ")
            let reader = ReadCollector(stream, pool: loop.buffers)
            reader.start()
            XCTAssertEqual(reader.text, "early, ", "the prefix at once, as the first read")
            loop.run()
            XCTAssertEqual(reader.text, "early, and later")
            XCTAssertEqual(reader.end, .eof)
        }
    }

    func testAReaderThatStopsAfterThePrefixLeavesTheInnerStreamUnread() {
        withPair { loop, pair in
            PayloadSender(pair.b, pool: loop.buffers, payload: Data("rest".utf8)).start()
            let stream = prefixed(pair, loop, "first")
            let reader = ReadCollector(stream, pool: loop.buffers)
            reader.pauseAfter = 1
            reader.start()
            loop.run()
            XCTAssertEqual(reader.text, "first")
            XCTAssertFalse(pair.a.isReading, "backpressure reaches the inner stream")
            reader.start()
            loop.run()
            XCTAssertEqual(reader.text, "firstrest")
        }
    }

    func testCloseBeforeAnyReadGivesThePrefixBackAndClosesTheInnerStream() {
        withPair { loop, pair in
            let stream = prefixed(pair, loop, "never read")
            stream.close()
            stream.close()
            XCTAssertTrue(pair.a.isClosed)
            XCTAssertEqual(loop.buffers.outstanding, 0)
        }
    }

    func testAReaderThatClosesInsideThePrefixReadStopsThere() {
        withPair { loop, pair in
            PayloadSender(pair.b, pool: loop.buffers, payload: Data("unread".utf8)).start()
            let stream = prefixed(pair, loop, "first")
            var reads = 0
            stream.onRead = { event in
                reads += 1
                if case .data(let buffer) = event { loop.buffers.give(buffer) }
                stream.close()
            }
            stream.startReading()
            loop.run()
            XCTAssertEqual(reads, 1)
            XCTAssertTrue(pair.a.isClosed)
        }
    }

    /// A tunnel that read its client's EOF while connecting: the relay reads
    /// the early bytes, then EOF, and the inner stream (whose EOF was taken)
    /// is never read again; with no early bytes, EOF alone.
    func testAnEarlyEndFollowsThePrefixWithoutReadingTheInnerStream() {
        withPair { loop, pair in
            PayloadSender(pair.b, pool: loop.buffers, payload: Data("never read".utf8)).start()
            let stream = PrefixedStream(pair.a, first: loop.buffers.buffers(copying: Array("last words".utf8))[0],
                                        thenEOF: true, pool: loop.buffers)
            let reader = ReadCollector(stream, pool: loop.buffers)
            reader.start()
            loop.run()
            XCTAssertEqual(reader.text, "last words")
            XCTAssertEqual(reader.end, .eof)
            XCTAssertFalse(pair.a.isReading, "the inner stream is not read after its EOF")
            stream.startReading()  // a second start tells nothing twice
            loop.run()
            XCTAssertEqual(reader.text, "last words")
            stream.close()
        }
        withPair { loop, pair in
            let stream = PrefixedStream(pair.a, first: nil, thenEOF: true, pool: loop.buffers)
            let reader = ReadCollector(stream, pool: loop.buffers)
            reader.start()
            loop.run()
            XCTAssertEqual(reader.text, "")
            XCTAssertEqual(reader.end, .eof)
            stream.close()
        }
    }
}
