import Foundation
import XCTest

/// The browser sign-in against the bundled gateway's login endpoint, with a
/// scripted browser (curl following redirects) and with headless chromium.
final class SignInTests: XCTestCase {
    private func occurrences(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    private func cachedToken(_ cache: TemporaryDirectory, gateway: GatewayFixture) throws -> String? {
        let name = try pythonCacheFileName(key: "127.0.0.1:\(gateway.port)|true")
        return try? String(contentsOfFile: cache.path + "/pomerium-cli/jwts/" + name, encoding: .utf8)
    }

    func testTwoHundredConnectionsWithEmptyCacheShareOneSignIn() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve"])
        let cache = TemporaryDirectory()
        let browser = try ScriptedBrowser(in: cache)
        let tunnel = try TunnelFixture(signInArguments(gateway, browser, targetPort: target.port),
                                       environment: ["XDG_CACHE_HOME": cache.path])
        // 200 connections at once; bytes sent before sign-in finishes must all arrive.
        XCTAssertEqual(try parallelEchoFailures(port: tunnel.port, count: 200, size: { 20_000 + $0 }), [])
        XCTAssertEqual(browser.starts, 1, "one browser start")
        XCTAssertEqual(occurrences("answered 200: login request", in: gateway.process.stderr), 1, "one login request")
        XCTAssertTrue(tunnel.process.stderr.contains("Your browser has been opened to visit:"))

        // The fresh token is cached in pomerium-cli's layout, private, and never logged.
        let dir = cache.path + "/pomerium-cli/jwts"
        let token = try XCTUnwrap(try cachedToken(cache, gateway: gateway))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: dir)[.posixPermissions] as? Int, 0o700)
        let file = dir + "/" + (try pythonCacheFileName(key: "127.0.0.1:\(gateway.port)|true"))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int, 0o600)
        XCTAssertFalse(tunnel.process.stderr.contains(token), "the token appears in the log")

        // A second process reuses the cached token: no browser, no login call.
        let second = try TunnelFixture(signInArguments(gateway, browser, targetPort: target.port),
                                       environment: ["XDG_CACHE_HOME": cache.path])
        let payload = randomBytes(5000)
        XCTAssert(try echoRoundTrip(port: second.port, payload: payload) == payload)
        XCTAssertEqual(browser.starts, 1)
        XCTAssertEqual(occurrences("answered 200: login request", in: gateway.process.stderr), 1)
    }

    func testExpiredCachedTokenIsNotSentAndOneSignInReplacesIt() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve"])
        let cache = TemporaryDirectory()
        let browser = try ScriptedBrowser(in: cache)
        let expired = try gateway.token(ttl: -60)
        _ = try plantCachedToken(expired, for: gateway, in: cache)
        let tunnel = try TunnelFixture(signInArguments(gateway, browser, targetPort: target.port),
                                       environment: ["XDG_CACHE_HOME": cache.path])
        let payload = randomBytes(10_000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload)
        XCTAssertEqual(occurrences("answered 401", in: gateway.process.stderr), 0, "the expired token was sent")
        XCTAssertEqual(occurrences("answered 200: login request", in: gateway.process.stderr), 1)
        // The fresh token replaces the expired one in the cache. Seen once
        // under ThreadSanitizer on a loaded machine: the cache still held the
        // expired token when read right after the echo (cause not found yet;
        // the store happens before the token is handed to the tunnel). Wait
        // for it, bounded, and show uvtunnel's log if it never comes.
        let deadline = Date().addingTimeInterval(10)
        while try cachedToken(cache, gateway: gateway) == expired && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertNotEqual(try cachedToken(cache, gateway: gateway), expired, "uvtunnel's log:\n\(tunnel.process.stderr)")
    }

    func testRejectedCachedTokenIsReplacedAfterOneSignIn() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve"])
        let stranger = try GatewayFixture()  // signs with another key: our gateway answers 401
        let cache = TemporaryDirectory()
        let browser = try ScriptedBrowser(in: cache)
        let foreign = try stranger.token()
        _ = try plantCachedToken(foreign, for: gateway, in: cache)
        let tunnel = try TunnelFixture(signInArguments(gateway, browser, targetPort: target.port),
                                       environment: ["XDG_CACHE_HOME": cache.path])
        let payload = randomBytes(10_000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, tunnel.process.stderr)
        // The gateway's log arrives through a pipe: wait for the line rather than race it.
        gateway.process.waitForOutput { $0.contains("answered 401") }
        // Failed once under ASan in CI here (no 401, gateway log empty, cache
        // unchanged, yet the echo worked): the message shows which gateway
        // uvtunnel reached, for the next reader.
        let context = "gateway port \(gateway.port), stranger port \(stranger.port); uvtunnel's log:\n\(tunnel.process.stderr)"
        XCTAssertEqual(occurrences("answered 401", in: gateway.process.stderr), 1, context)
        XCTAssertEqual(browser.starts, 1, context)
        let fresh = try XCTUnwrap(try cachedToken(cache, gateway: gateway))
        XCTAssertNotEqual(fresh, foreign, context)
        XCTAssertFalse(tunnel.process.stderr.contains(fresh) || tunnel.process.stderr.contains(foreign), "a token appears in the log")
    }

    func testSignInThatNeverFinishesFailsWaitingConnectionsCleanly() throws {
        let gateway = try GatewayFixture()
        let cache = TemporaryDirectory()
        let tunnel = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--alternate-ca-path", gateway.caPath,
                                        "--browser-cmd", "true", "--auth-timeout", "1", "127.0.0.1:9"],
                                       environment: ["XDG_CACHE_HOME": cache.path])
        let sockets = try (0..<3).map { _ in try TestSocket.connect(port: tunnel.port) }
        for socket in sockets { XCTAssertTrue(socket.waitForClose(timeout: 10)) }
        tunnel.process.waitForOutput { self.occurrences("did not finish within 1.0s (raise --auth-timeout if signing in takes longer)", in: $0) >= 3 }
        XCTAssertEqual(occurrences("answered 200: login request", in: gateway.process.stderr), 1)
        XCTAssertTrue(tunnel.process.process.isRunning)
    }

    func testCallbackSurvivesScansAndJunkBeforeTheRealRedirect() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve"])
        let cache = TemporaryDirectory()
        // Before following the URL, hit the callback port with a bare connect,
        // garbage, a request without a token and a token that is not a JWT.
        let junk = """
        port=$(echo "$1" | sed -E 's/.*127.0.0.1%3A([0-9]+).*/\\1/')
        python3 - "$port" <<'PY'
        import socket, sys
        port = int(sys.argv[1])
        def send(data):
            s = socket.create_connection(("127.0.0.1", port)); s.settimeout(15)
            if not data:  # a port scan: connect and leave
                s.close(); return b""
            s.sendall(data)
            out = b""
            try:
                while chunk := s.recv(4096): out += chunk
            except Exception: pass
            s.close(); return out
        send(b"")
        assert send(b"\\x00\\x01\\x02garbage\\r\\n\\r\\n").startswith(b"HTTP/1.1 400"), "garbage"
        assert send(b"GET /favicon.ico HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n").startswith(b"HTTP/1.1 404"), "no token"
        assert send(b"GET /?pomerium_jwt=not-a-jwt HTTP/1.1\\r\\n\\r\\n").startswith(b"HTTP/1.1 400"), "bad token"
        PY
        """
        let browser = try ScriptedBrowser(in: cache, before: junk)
        let tunnel = try TunnelFixture(signInArguments(gateway, browser, targetPort: target.port),
                                       environment: ["XDG_CACHE_HOME": cache.path])
        let payload = randomBytes(3000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, tunnel.process.stderr)
    }

    func testHeadlessChromiumCompletesTheSignIn() throws {
        let chromium = "/usr/bin/chromium"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: chromium), "install chromium (see .ci/setup)")
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve"])
        let cache = TemporaryDirectory()
        let profile = TemporaryDirectory()
        let command = "\(chromium) --headless --no-sandbox --disable-gpu --ignore-certificate-errors "
            + "--user-data-dir=\(profile.path) --dump-dom"
        let tunnel = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--alternate-ca-path", gateway.caPath,
                                        "--browser-cmd", command, "127.0.0.1:\(target.port)"],
                                       environment: ["XDG_CACHE_HOME": cache.path, "HOME": profile.path])
        let payload = randomBytes(10_000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, tunnel.process.stderr)
        // chromium's --dump-dom of our callback page went to stderr (never stdout).
        tunnel.process.waitForOutput { $0.contains("Signed in. You may close this tab.") }
        // Failed once in a full CI run here (passes alone): say what the cache held.
        let stored = (try? FileManager.default.contentsOfDirectory(atPath: cache.path + "/pomerium-cli/jwts")) ?? []
        let expected = try pythonCacheFileName(key: "127.0.0.1:\(gateway.port)|true")
        XCTAssertNotNil(try cachedToken(cache, gateway: gateway),
                        "cache holds \(stored), expected \(expected); uvtunnel's log:\n\(tunnel.process.stderr.suffix(3000))")
    }
}
