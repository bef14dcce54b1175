import Foundation
import XCTest

/// Tokens never appear in a log line. One uvtunnel at LOG_LEVEL=trace (every
/// line it can write) runs a browser sign-in that first has a cached token
/// rejected, a service-account route with policy rechecks, refused and
/// completed tunnels, and a shutdown; then every line of its stderr and
/// stdout is searched for each token and for each token's signature alone.
/// Once in the text format and once in JSON, whose handler prints metadata.
final class TokenSecrecyTests: XCTestCase {
    func testNoTokenInAnyLogLineText() throws { try runScenario(format: "text") }

    func testNoTokenInAnyLogLineJSON() throws { try runScenario(format: "json") }

    private func runScenario(format: String) throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve", "--allow", "127.0.0.1:\(target.port)"])
        let stranger = try GatewayFixture()  // its tokens are signed by another key: 401
        let dir = TemporaryDirectory()
        let browser = try ScriptedBrowser(in: dir)

        // The sign-in route starts with a cached token the gateway rejects.
        let cacheDir = dir.path + "/cache/pomerium-cli/jwts"
        try FileManager.default.createDirectory(atPath: cacheDir, withIntermediateDirectories: true)
        let cacheFile = cacheDir + "/" + (try pythonCacheFileName(key: "127.0.0.1:\(gateway.port)|true"))
        let rejected = try stranger.token()
        try writeFile(cacheFile, rejected)
        let serviceAccount = try gateway.token()
        let serviceAccountFile = dir.path + "/sa.jwt"
        try writeFile(serviceAccountFile, serviceAccount)

        let (signIn, service, forbidden) = (try freeLoopbackPort(), try freeLoopbackPort(), try freeLoopbackPort())
        let config = dir.path + "/uvtunnel.toml"
        try """
        pomerium-url = "https://127.0.0.1:\(gateway.port)"
        alternate-ca-path = "\(gateway.caPath)"
        drain-timeout = 1

        [[tunnel]]
        listen = "127.0.0.1:\(signIn)"
        route = "127.0.0.1:\(target.port)"
        browser-cmd = "\(browser.command)"

        [[tunnel]]
        listen = "127.0.0.1:\(service)"
        route = "127.0.0.1:\(target.port)"
        service-account-file = "\(serviceAccountFile)"
        recheck-interval = 1

        [[tunnel]]
        listen = "127.0.0.1:\(forbidden)"
        route = "127.0.0.1:1"
        service-account-file = "\(serviceAccountFile)"
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let tunnel = try ChildProcess(Products.tunnel, ["--config", config, "--log-format", format],
                                      environment: ["LOG_LEVEL": "trace", "XDG_CACHE_HOME": dir.path + "/cache"])
        tunnel.waitForOutput { $0.components(separatedBy: "listening on").count == 4 }

        for port in [signIn, service, signIn, service, signIn] {
            let payload = randomBytes(20_000)
            XCTAssert(try echoRoundTrip(port: port, payload: payload) == payload, "route on \(port)")
        }
        // Rechecks run while a tunnel is open on the service-account route.
        let held = try TestSocket.connect(port: service, timeout: 30)
        try held.send([7])
        XCTAssertEqual(try held.receive(exactly: 1), [7])
        // Two rechecks (every second), waited for by their log lines, not by a fixed sleep.
        tunnel.waitForOutput { $0.components(separatedBy: "recheck probe: success").count > 2 }
        for _ in 0..<2 {
            XCTAssertTrue(try TestSocket.connect(port: forbidden).waitForClose(timeout: 10))
        }
        tunnel.waitForOutput { $0.contains("403") }
        tunnel.signal(SIGTERM)
        XCTAssertEqual(tunnel.waitForExit(timeout: 20), 0)

        let fresh = try XCTUnwrap(try? String(contentsOfFile: cacheFile, encoding: .utf8), "the sign-in stored no token")
        XCTAssertNotEqual(fresh, rejected)
        XCTAssertEqual(browser.starts, 1)
        let log = tunnel.stderr + tunnel.stdout
        let lines = log.split(separator: "\n")
        XCTAssertGreaterThan(lines.count, 40, "trace logging produced too few lines to mean anything")
        XCTAssertTrue(log.contains("auth required") && log.contains("signed in") && log.contains("403"), "the scenario did not run:\n\(log)")
        for (name, token) in [("signed-in", fresh), ("rejected cached", rejected), ("service account", serviceAccount)] {
            let signature = String(token.split(separator: ".").last ?? "")
            XCTAssertGreaterThan(signature.count, 20)
            for line in lines where line.contains(token) || line.contains(signature) {
                // Redacted here too: test output is a log as well.
                let shown = line.replacingOccurrences(of: token, with: "<token>").replacingOccurrences(of: signature, with: "<signature>")
                XCTFail("the \(name) token is in a log line: \(shown)")
            }
        }
        // The browser is started with the sign-in URL only, never a token.
        let browserLog = (try? String(contentsOfFile: browser.log, encoding: .utf8)) ?? ""
        XCTAssertFalse([fresh, rejected, serviceAccount].contains { browserLog.contains($0) }, "a token in the browser's argv")
    }
}
