import XCTest
@testable import UVTunnel

/// The reclaimer on a real loop, with a short period and a counting stand-in
/// for malloc_trim: connections churning keep it from trimming, a quiet
/// period after them trims once, the pool's leftovers are freed, and the
/// reclaimer's timer does not keep the loop running.
final class MemoryReclaimerTests: XCTestCase {
    func testTrimsOnceAfterTheChurnStopsAndFreesThePoolsLeftovers() throws {
        let loop = try EventLoop(bufferSize: 1024, cachedBuffers: 16)
        var trims: [Int] = []  // the churn count at each trim
        let reclaimer = MemoryReclaimer(loop: loop, periodMilliseconds: 20, logger: .quiet) { trims.append(loop.connectionChurn) }
        let leftovers = (0..<10).map { _ in loop.buffers.take() }
        leftovers.forEach(loop.buffers.give)
        // 60 connections, one every 5 ms (about 15 periods), then 10 quiet periods.
        let churn = UVTimer(loop: loop)
        let end = UVTimer(loop: loop)
        var ticks = 0
        churn.start(milliseconds: 5, repeat: 5) {
            ticks += 1
            loop.connectionClosed()
            guard ticks == 60 else { return }
            churn.close()
            end.start(milliseconds: 200) { end.close() }
        }
        loop.run()
        XCTAssertEqual(trims, [60], "one trim, after the last connection came and went")
        XCTAssertEqual(reclaimer.trims, 1)
        XCTAssertEqual(loop.buffers.cachedCount, 0, "buffers nobody took for a period were freed")
        reclaimer.close()
        loop.run()
        XCTAssertEqual(loop.close(), 0)
    }

    func testNoneStartsNoTimerAndTrimsNothing() throws {
        let loop = try EventLoop()
        var trims = 0
        let reclaimer = MemoryReclaimer(loop: loop, settings: try .parse("none"), periodMilliseconds: 1, logger: .quiet) { trims += 1 }
        loop.connectionClosed()
        let end = UVTimer(loop: loop)
        end.start(milliseconds: 30) { end.close() }
        loop.run()
        XCTAssertEqual(trims, 0)
        reclaimer.close()
        loop.run()
        XCTAssertEqual(loop.close(), 0)
    }

    func testTheSettingIsParsedStrictly() throws {
        XCTAssertEqual(try MemoryReclaimer.Settings.parse(nil), .init(releasePoolBuffers: true, trimHeap: true))
        XCTAssertEqual(try MemoryReclaimer.Settings.parse("pool"), .init(releasePoolBuffers: true, trimHeap: false))
        XCTAssertEqual(try MemoryReclaimer.Settings.parse("trim"), .init(releasePoolBuffers: false, trimHeap: true))
        XCTAssertEqual(try MemoryReclaimer.Settings.parse("trim, pool"), .init(releasePoolBuffers: true, trimHeap: true))
        XCTAssertThrowsError(try MemoryReclaimer.Settings.parse("yes")) { error in
            XCTAssertEqual("\(error)", "UVTUNNEL_RECLAIM=yes: expected none, pool, trim or pool,trim")
        }
        XCTAssertThrowsError(try MemoryReclaimer.Settings.parse("none,pool"))
    }
}
