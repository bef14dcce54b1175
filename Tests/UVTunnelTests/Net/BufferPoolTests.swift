import XCTest
@testable import UVTunnel

/// The pool keeps what a steady load reuses and lets go of what a burst left
/// behind (DESIGN: "the pool gives memory back when the loop has been quiet").
final class BufferPoolTests: XCTestCase {
    func testBuffersNobodyTookDuringAPeriodAreFreedAndTheRestKept() {
        let pool = BufferPool(bufferSize: 1024, maxCached: 64)
        // A burst: 40 buffers out at once, all back.
        let burst = (0..<40).map { _ in pool.take() }
        burst.forEach(pool.give)
        XCTAssertEqual(pool.cachedCount, 40)
        // The period the burst happened in: the cache was empty at its low point.
        XCTAssertEqual(pool.releaseUnused(), 0, "the buffers were in use during this period")
        XCTAssertEqual(pool.cachedCount, 40)
        // A steady load that needs 3 at a time through the next period.
        for _ in 0..<100 {
            let three = (0..<3).map { _ in pool.take() }
            three.forEach(pool.give)
        }
        XCTAssertEqual(pool.releaseUnused(), 37, "only the 37 no take reached go")
        XCTAssertEqual(pool.cachedCount, 3)
        XCTAssertEqual(pool.outstanding, 0)
        // The load stops: a whole quiet period frees the rest.
        XCTAssertEqual(pool.releaseUnused(), 3)
        XCTAssertEqual(pool.cachedCount, 0)
        XCTAssertEqual(pool.releaseUnused(), 0)
    }

    func testABufferOutDuringTheReleaseComesBackIntoTheCache() {
        let pool = BufferPool(bufferSize: 1024, maxCached: 8)
        let held = pool.take()
        XCTAssertEqual(pool.releaseUnused(), 0)
        pool.give(held)
        XCTAssertEqual(pool.cachedCount, 1, "given back after the release: cached, and freed only after a quiet period")
        XCTAssertEqual(pool.releaseUnused(), 0, "it was out for part of this period")
        XCTAssertEqual(pool.releaseUnused(), 1)
    }

    /// An HTTP/2 stream keeps a DATA payload as the very read it arrived in.
    func testNarrowKeepsOnlyBytesInsideTheUnconsumedOnes() {
        let pool = BufferPool(bufferSize: 64, maxCached: 4)
        let buffer = pool.take()
        buffer.append(Array(0..<40 as Range<UInt8>))
        buffer.consume(4)
        let (inside, outside, consumed) = buffer.withReadableBytes { bytes in
            (UnsafeRawBufferPointer(rebasing: bytes[10..<20]),
             UnsafeRawBufferPointer(start: bytes.baseAddress! + 30, count: 20),
             UnsafeRawBufferPointer(start: bytes.baseAddress! - 2, count: 4))
        }
        XCTAssertFalse(buffer.narrow(to: outside), "past the written bytes")
        XCTAssertFalse(buffer.narrow(to: consumed), "partly consumed already")
        XCTAssertEqual(buffer.count, 36, "a refused narrow changes nothing")
        XCTAssertTrue(buffer.narrow(to: inside))
        XCTAssertEqual(buffer.bytes, Array(14..<24 as Range<UInt8>))
        pool.give(buffer)
    }
}
