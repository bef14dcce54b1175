import CShims
import XCTest
@testable import UVTunnel

/// HandleOwnership's rule for a failed init: no handle is left to close, the
/// owner is not retained, and the error names what was being made.
final class HandleOwnershipTests: XCTestCase {
    private final class Owner {}

    func testFailedInitRetainsNothingAndNamesWhatFailed() throws {
        let loop = try EventLoop()
        weak var released: Owner?
        do {
            let owner = Owner()
            released = owner
            // An address family libuv does not know: uv_tcp_init_ex refuses it
            // before touching the loop.
            let handle = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
            XCTAssertThrowsError(try HandleOwnership.initialize(owner, handle, what: "make a test socket") {
                uv_tcp_init_ex(loop.raw, $0, 0xFF)
            }) { error in
                XCTAssertEqual("\(error)", "make a test socket: invalid argument")
            }
        }
        XCTAssertNil(released, "a failed init keeps no retain on the owner")
        XCTAssertEqual(loop.handleCount, 0)
        XCTAssertEqual(loop.close(), 0)
    }

    func testInitThenCloseFreesOnceAndReleasesTheOwner() throws {
        let loop = try EventLoop()
        weak var released: Owner?
        do {
            let owner = Owner()
            released = owner
            let handle = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
            try HandleOwnership.initialize(owner, handle, what: "uv_timer_init") { uv_timer_init(loop.raw, $0) }
            XCTAssertEqual(loop.handleCount, 1)
            HandleOwnership.close(handle)
        }
        XCTAssertNotNil(released, "libuv keeps the owner until the close callback")
        loop.run()
        XCTAssertNil(released, "the close callback released the owner")
        XCTAssertEqual(loop.close(), 0)
    }

    /// uv_spawn links its handle even when the program is missing: the owner
    /// is closed through the close path and the error names the program.
    func testFailedSpawnIsClosedAndNamesTheProgram() throws {
        let loop = try EventLoop()
        XCTAssertThrowsError(try ChildSpawner.spawn(["/nonexistent/uvtunnel-test-program"], loop: loop)) { error in
            XCTAssertEqual("\(error)", "start /nonexistent/uvtunnel-test-program: no such file or directory")
        }
        try LoopIntactCheck.assertIntact(loop, alreadyOpen: 0)
        loop.run()
        XCTAssertEqual(loop.close(), 0)
    }
}
