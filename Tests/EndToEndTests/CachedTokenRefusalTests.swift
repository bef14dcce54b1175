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
        let dir = cache.path + "/pomerium-cli/jwts"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/" + (try pythonCacheFileName(key: "127.0.0.1:\(gateway.port)|true"))
        // A token the gateway would accept: were it used, no sign-in would happen.
        let exposed = try gateway.token()
        FileManager.default.createFile(atPath: file, contents: Data(exposed.utf8), attributes: [.posixPermissions: 0o644])

        let tunnel = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--alternate-ca-path", gateway.caPath,
                                        "--browser-cmd", browser.command, "127.0.0.1:\(target.port)"],
                                       environment: ["XDG_CACHE_HOME": cache.path])
        tunnel.process.waitForOutput { $0.contains("ignoring the cached token: token file \(file) has mode 0644") }
        let payload = randomBytes(10_000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, tunnel.process.stderr)
        XCTAssertEqual(browser.starts, 1, "signed in instead of using the exposed token")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int, 0o600)
        XCTAssertNotEqual(try String(contentsOfFile: file, encoding: .utf8), exposed)
    }
}
