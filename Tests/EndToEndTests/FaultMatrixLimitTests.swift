import Foundation
import XCTest

/// The fault matrix, descriptor limit: uvtunnel under `ulimit -n 256` gets 400
/// connections at once. It must neither spin (accept failing in a loop) nor
/// drop the tunnels it already carries, and must serve again once clients
/// let go of their descriptors.
final class FaultMatrixLimitTests: XCTestCase {
    func testFourHundredConnectionsUnderAFileLimitOf256() throws {
        let echo = try TargetServer(.echo)
        let rig = try FaultRig()
        try rig.start(.init(destination: "127.0.0.1:\(echo.port)"), descriptorLimit: 256)
        var clients: [TestSocket] = []
        try rig.exercise(expecting: ["too many open files"]) {
            for _ in 0..<400 {
                clients.append(try TestSocket.connect(port: rig.faultyPort, timeout: 30))
            }
            // Saturated: each carried tunnel holds two descriptors, so the table fills.
            let stats = rig.stats
            let deadline = Date().addingTimeInterval(20)
            while stats.descriptorCount < 240 && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            XCTAssertGreaterThanOrEqual(stats.descriptorCount, 240, "the descriptor table never filled")
            rig.waitForLine(["too many open files"])
            let first = rig.tunnel.stderr.split(separator: "\n").first { $0.contains("too many open files") } ?? ""
            print("at the descriptor limit, first refusal: \(first)")

            // No busy loop: while saturated (and with the healthy transfer going),
            // uvtunnel uses little CPU. A loop retrying accept would burn ~1 s/s.
            Thread.sleep(forTimeInterval: 1)  // let the burst of refusals settle
            let before = stats.cpuSeconds
            Thread.sleep(forTimeInterval: 3)
            let used = stats.cpuSeconds - before
            print("at the descriptor limit: \(stats.descriptorCount) descriptors, \(used) s CPU in 3 s")
            XCTAssertLessThan(used, 0.5, "uvtunnel used \(used) s of CPU in 3 s while at its descriptor limit")
        } release: {
            clients = []  // every client closes: the descriptors come back
        }
        // Service resumes on the route that hit the limit.
        let payload = randomBytes(100_000)
        XCTAssert(try echoRoundTrip(port: rig.faultyPort, payload: payload) == payload, rig.tunnel.stderr.suffix(2000).description)
    }
}
