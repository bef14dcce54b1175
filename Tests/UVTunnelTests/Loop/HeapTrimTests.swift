import Glibc
import XCTest
@testable import UVTunnel

/// `HeapTrim.decommitFreedSpansAtOnce` against the real mimalloc library
/// (Debian's libmimalloc2.0, which uvtunnel links), loaded privately into the
/// test process so the tests' own allocator stays glibc's.
final class HeapTrimTests: XCTestCase {
    private typealias OptionGet = @convention(c) (Int32) -> Int

    func testSetsMimallocsDecommitDelayToZero() throws {
        let library = try XCTUnwrap(dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL), "libmimalloc-dev is installed (.ci/setup)")
        // Never closed: mimalloc registers exit and thread-exit handlers.
        let get = unsafeBitCast(try XCTUnwrap(dlsym(library, "mi_option_get")), to: OptionGet.self)
        XCTAssertGreaterThan(get(HeapTrim.decommitDelayOption), 0, "mimalloc delays decommits by default")
        XCTAssertTrue(HeapTrim.decommitFreedSpansAtOnce { dlsym(library, $0) })
        XCTAssertEqual(get(HeapTrim.decommitDelayOption), 0)
    }

    func testDoesNothingWithoutMimalloc() {
        var looked: [String] = []
        XCTAssertFalse(HeapTrim.decommitFreedSpansAtOnce { looked.append($0); return nil })
        XCTAssertEqual(looked, ["mi_version"])
    }
}
