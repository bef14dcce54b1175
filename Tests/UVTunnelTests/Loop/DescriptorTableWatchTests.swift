@testable import UVTunnel
import Glibc
import XCTest

final class DescriptorTableWatchTests: XCTestCase {
    /// The last two slots of a table of 100 are 98 and 99; a report is at
    /// most one per interval, and descriptors below the top are not one.
    func testReportsADescriptorInTheLastTwoSlotsOncePerInterval() {
        let watch = DescriptorTableWatch()
        watch.limit = 100
        var reports: [Int32] = []
        watch.onFull = { reports.append($0) }
        watch.note(97, now: 0)
        watch.note(nil, now: 0)
        XCTAssertEqual(reports, [], "slot 97 of 100 leaves two free")
        watch.note(98, now: 1_000)
        XCTAssertEqual(reports, [100])
        watch.note(99, now: 10_999)
        XCTAssertEqual(reports, [100], "a second report within 10 s")
        watch.note(99, now: 11_000)
        XCTAssertEqual(reports, [100, 100])
    }

    /// Both ways a socket enters the table are watched: a gateway dial (the
    /// case a CI run met, when dials took the last slots after the accepts)
    /// and an accepted client. The loop's watch is told a limit just above
    /// the next free descriptor, so the dial's socket and then the accepted
    /// one land in its last two slots.
    func testADialAndAnAcceptIntoTheLastSlotsAreBothReported() throws {
        let loop = try EventLoop()
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        var accepted: UVStream?
        listener.start { accepted = $0 }
        let dial = try UVStream.tcp(loop: loop)
        let next = open("/dev/null", O_RDONLY)  // Linux gives the lowest free slot: the dial's next
        XCTAssertGreaterThanOrEqual(next, 0)
        close(next)
        loop.descriptorTable.limit = next + 2
        loop.descriptorTable.intervalMilliseconds = 0
        var reports: [Int32] = []
        loop.descriptorTable.onFull = { reports.append($0) }

        var connected = false
        try dial.connect(to: listener.address) { error in
            XCTAssertNil(error)
            connected = true
        }
        XCTAssertEqual(dial.descriptor, next)
        XCTAssertEqual(reports, [next + 2], "the dial took slot \(next) of \(next + 2)")
        while !connected || accepted == nil { loop.runOnce() }
        XCTAssertEqual(accepted?.descriptor, next + 1)
        XCTAssertEqual(reports, [next + 2, next + 2], "the accept took slot \(next + 1) of \(next + 2)")

        dial.close()
        accepted?.close()
        listener.close()
        loop.run()
        XCTAssertEqual(loop.close(), 0)
    }
}
