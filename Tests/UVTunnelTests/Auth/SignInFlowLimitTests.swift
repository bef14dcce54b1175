import CShims
import Logging
import XCTest
@testable import UVTunnel

/// The sign-in callback listener is made when a sign-in starts, which may be
/// when the process is at its descriptor limit (every tunnel waiting for the
/// token holds its client's socket). The sign-in must fail at once with a
/// line that says why, and leave the sign-in thread's loop intact for the next.
final class SignInFlowLimitTests: XCTestCase {
    private var logger: Logger { .quiet }

    func testCallbackListenerAtTheDescriptorLimitFailsTheSignInAndLeavesTheLoopIntact() throws {
        let loop = try EventLoop()
        // Port 9 on loopback: nothing listens, so a login call is refused at once.
        let route = try Route.parse("127.0.0.1:22", pomeriumURL: "http://127.0.0.1:9")
        let settings = SignInSettings(route: route, tls: try TLSContext.client(TLSClientOptions()), verifyHostName: true,
                                      browserCommand: nil, openBrowser: false, cache: nil)

        var first: Result<String, SignInFailure>?
        let flow = SignInFlow(loop: loop, settings: settings, replacing: nil, logger: logger) { first = $0 }
        try FullDescriptorTable.whileFull { flow.start() }
        XCTAssertEqual(first, .failure(SignInFailure(
            "sign-in: cannot listen for the browser's callback on 127.0.0.1: make a socket to listen on 127.0.0.1:0: too many open files")))
        XCTAssertEqual(loop.handleCount, 0, "the failed sign-in left no handle")

        try LoopIntactCheck.assertIntact(loop, alreadyOpen: 0)

        // The next sign-in on the same loop gets its listener and goes on to
        // the login call (refused here), then leaves nothing open.
        var second: Result<String, SignInFailure>?
        let next = SignInFlow(loop: loop, settings: settings, replacing: nil, logger: logger) { second = $0 }
        next.start()
        loop.run()
        guard case .failure(let failure)? = second else { return XCTFail("second sign-in: \(String(describing: second))") }
        XCTAssertTrue(failure.message.hasPrefix("sign-in: the gateway's login endpoint failed"), failure.message)
        XCTAssertEqual(loop.close(), 0, "no handle left open")
    }
}
