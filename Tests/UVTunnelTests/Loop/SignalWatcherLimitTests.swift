import CShims
import Glibc
import XCTest
@testable import UVTunnel

/// Signal watchers and the descriptor limit. `uv_signal_init` can fail only
/// while making the loop's signal pipe, and `uv_loop_init` already makes it
/// (for its own SIGCHLD watcher), so at the limit a watcher needs no
/// descriptor and must simply work. Its failure path (a failed init leaves no
/// handle) is HandleOwnership's and is tested there; a failed start (an
/// initialised handle, which must be closed) is tested here.
final class SignalWatcherLimitTests: XCTestCase {
    func testSignalWatcherMadeAtTheDescriptorLimitCatchesItsSignal() throws {
        let loop = try EventLoop()
        var caught: [Int32] = []
        let watcher = try FullDescriptorTable.whileFull {
            try SignalWatcher(loop: loop, signal: SIGUSR2) { caught.append($0) }
        }
        raise(SIGUSR2)
        for _ in 0..<100 where caught.isEmpty { loop.runOnce(block: false) }
        XCTAssertEqual(caught, [SIGUSR2])

        try LoopIntactCheck.assertIntact(loop, alreadyOpen: 1)
        watcher.close()
        loop.run()
        XCTAssertEqual(loop.close(), 0, "no handle left open")
    }

    /// A signal that cannot be watched: the handle was initialised, so the
    /// watcher closes it through the one close path, and the loop is intact.
    func testUnwatchableSignalThrowsNamingItAndLeavesTheLoopIntact() throws {
        let loop = try EventLoop()
        XCTAssertThrowsError(try SignalWatcher(loop: loop, signal: SIGKILL) { _ in }) { error in
            XCTAssertEqual("\(error)", "signal \(SIGKILL): invalid argument")
        }
        try LoopIntactCheck.assertIntact(loop, alreadyOpen: 0)
        loop.run()
        XCTAssertEqual(loop.close(), 0, "no handle left open")
    }
}
