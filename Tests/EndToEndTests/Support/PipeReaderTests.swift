import Foundation
import XCTest

/// The tests count log lines right after traffic they caused, so a look at a
/// child's output must include everything written to the pipe before it.
final class PipeReaderTests: XCTestCase {
    func testEveryLookIncludesAllBytesWrittenBeforeIt() throws {
        let pipe = Pipe()
        let reader = PipeReader(pipe, name: "pipe reader test")
        let writer = pipe.fileHandleForWriting
        var expected = ""
        for number in 0..<2_000 {
            let line = "line \(number)\n"
            expected += line
            try writer.write(contentsOf: Data(line.utf8))
            // No waiting: the reader's thread may not have woken yet.
            XCTAssertEqual(reader.text.count, expected.count, "line \(number)")
            if reader.text.count != expected.count { break }
        }
        XCTAssertEqual(reader.text, expected)
        XCTAssertFalse(reader.hasEnded)
        try writer.close()
        XCTAssertTrue(reader.hasEnded, "EOF is seen at the next look")
        XCTAssertEqual(Array(reader.data), Array(expected.utf8))
    }
}
