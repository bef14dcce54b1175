import Foundation
import XCTest

/// A cached token in a file other users can read is not used: uvtunnel says
/// why, signs in instead, and the fresh token replaces the file with 0600.
final class CachedTokenRefusalTests: XCTestCase {
    func testTokenFileOpenToOthersIsRefusedAndASignInReplacesIt() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve"])
        let cache = TemporaryDirectory()
        let browser = try ScriptedBrowser(in: cache)
        // A token the gateway would accept: were it used, no sign-in would happen.
        let exposed = try gateway.token()
        let file = try plantCachedToken(exposed, for: gateway, in: cache, mode: 0o644)

        let tunnel = try TunnelFixture(signInArguments(gateway, browser, targetPort: target.port),
                                       environment: ["XDG_CACHE_HOME": cache.path])
        tunnel.process.waitForOutput { $0.contains("ignoring the cached token: token file \(file) has mode 0644") }
        let payload = randomBytes(10_000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, tunnel.process.stderr)
        XCTAssertEqual(browser.starts, 1, "signed in instead of using the exposed token")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int, 0o600)
        XCTAssertNotEqual(try String(contentsOfFile: file, encoding: .utf8), exposed)
    }
}
