import Foundation
import XCTest
@testable import UVTunnel

extension EventLoop {
    /// Runs turns without blocking until `condition` holds; fails the test
    /// (naming `what`) after `seconds`: a limit against hangs, not a timing.
    func spin(_ what: String, seconds: TimeInterval, file: StaticString, line: UInt, until condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { return XCTFail("timed out waiting for \(what)", file: file, line: line) }
            _ = runOnce(block: false)
        }
    }

    /// The end of a loop test: runs what is left, then every pool buffer must
    /// be back and no handle open.
    func assertEverythingReturnedAndClose(file: StaticString = #filePath, line: UInt = #line) {
        run()
        XCTAssertEqual(buffers.outstanding, 0, "every buffer returned to the pool", file: file, line: line)
        XCTAssertEqual(close(), 0, "no handle left open", file: file, line: line)
    }
}
