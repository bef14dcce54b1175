import Foundation
import XCTest

/// uvtunnel behind a corporate egress proxy: Debian's squid on an http_port,
/// the bundled gateway and an echo target, all on 127.0.0.1. squid's
/// access.log is the witness of what went through it.
final class EgressProxyTests: XCTestCase {
    func testHTTPSProxyCarriesTheTunnelByteExactAndNoProxyBypassesIt() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let token = try gateway.token()
        let squid = try EgressSquid()

        // NO_PROXY=127.0.0.1: straight to the gateway, squid never sees it.
        let direct = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--alternate-ca-path", gateway.caPath,
                                        "--service-account", token, "127.0.0.1:\(target.port)"],
                                       environment: ["HTTPS_PROXY": squid.proxyURL, "NO_PROXY": "127.0.0.1"])
        let small = randomBytes(10_000)
        XCTAssert(try echoRoundTrip(port: direct.port, payload: small) == small)
        XCTAssertTrue(direct.process.stderr.contains("reaching 127.0.0.1:\(gateway.port) directly"), direct.process.stderr)

        // The gateway by name: uvtunnel sends the name to squid, which resolves
        // it; TLS inside the tunnel is verified against "localhost", not the proxy.
        let proxied = try TunnelFixture(["--pomerium-url", "https://localhost:\(gateway.port)", "--alternate-ca-path", gateway.caPath,
                                         "--service-account", token, "127.0.0.1:\(target.port)"],
                                        environment: ["HTTPS_PROXY": squid.proxyURL])
        XCTAssertTrue(proxied.process.stderr.contains("reaching localhost:\(gateway.port) through egress proxy 127.0.0.1:\(squid.port) (from HTTPS_PROXY)"),
                      proxied.process.stderr)
        let payload = randomBytes(4 << 20)
        XCTAssert(try echoRoundTrip(port: proxied.port, payload: payload) == payload, "bytes through squid differ")

        let lines = squid.waitForConnectLines(to: "localhost:\(gateway.port)", count: 1)
        XCTAssertEqual(lines.count, 1, "squid's access.log: \(lines)")
        XCTAssertTrue(lines.first?.contains("TCP_TUNNEL/200") ?? false, "\(lines)")
        // squid logs a tunnel when it ends: the direct one ended before the proxied one began.
        XCTAssertEqual(squid.connectLines(to: "127.0.0.1:\(gateway.port)"), [], "NO_PROXY was not honoured")
    }

    func testUnreachableEgressProxyIsOneClearLineAndTheFlagWinsOverTheEnvironment() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let closed = try TargetServer(.echo)
        let closedPort = closed.port
        closed.stop()
        // If HTTPS_PROXY won, the line would name port 1 instead.
        let tunnel = try TunnelFixture(["--egress-proxy", "http://127.0.0.1:\(closedPort)"]
                                       + TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()),
                                       environment: ["HTTPS_PROXY": "http://127.0.0.1:1"])
        let socket = try TestSocket.connect(port: tunnel.port)
        XCTAssertTrue(socket.waitForClose(timeout: 10))
        tunnel.process.waitForOutput {
            $0.contains("failed 127.0.0.1:\(target.port): cannot reach egress proxy 127.0.0.1:\(closedPort) at 127.0.0.1:\(closedPort): connection refused")
        }
        XCTAssertEqual(target.acceptedCount, 0)
    }

    func testProxyLoginIsSentAndA407IsExplained() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let token = try gateway.token()
        let squid = try EgressSquid(login: (user: "alice", password: "s3cr@t"))
        let gatewayArguments = TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: token)

        let anonymous = try TunnelFixture(["--egress-proxy", squid.proxyURL] + gatewayArguments)
        let refused = try TestSocket.connect(port: anonymous.port)
        XCTAssertTrue(refused.waitForClose(timeout: 10))
        anonymous.process.waitForOutput {
            $0.contains("egress proxy 127.0.0.1:\(squid.port) answered 407 \"Proxy Authentication Required\" to CONNECT 127.0.0.1:\(gateway.port)")
                && $0.contains("give them in the proxy URL")
        }

        // "@" in the password is percent-encoded in the URL, as curl expects too.
        let signedIn = try TunnelFixture(["--egress-proxy", "http://alice:s3cr%40t@127.0.0.1:\(squid.port)"] + gatewayArguments)
        let payload = randomBytes(200_000)
        XCTAssert(try echoRoundTrip(port: signedIn.port, payload: payload) == payload, signedIn.process.stderr)
        XCTAssertFalse(signedIn.process.stderr.contains("s3cr"), "the proxy password appears in the log")
        let lines = squid.waitForConnectLines(to: "127.0.0.1:\(gateway.port)", count: 2)
        XCTAssertTrue(lines.contains { $0.contains("TCP_TUNNEL/200") && $0.contains(" alice ") }, "\(lines)")
    }

    func testSignInLoginCallGoesThroughTheProxyToo() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve"])
        let squid = try EgressSquid()
        let cache = TemporaryDirectory()
        // The scripted browser goes straight to the gateway, so squid sees only uvtunnel.
        let script = cache.path + "/browser.sh"
        try "#!/bin/sh\nexec curl --noproxy '*' -sSLk --max-time 20 -o /dev/null \"$1\"\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        let tunnel = try TunnelFixture(["--pomerium-url", "https://localhost:\(gateway.port)", "--alternate-ca-path", gateway.caPath,
                                        "--browser-cmd", script, "127.0.0.1:\(target.port)"],
                                       environment: ["XDG_CACHE_HOME": cache.path, "HTTPS_PROXY": squid.proxyURL])
        let payload = randomBytes(10_000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, tunnel.process.stderr)
        XCTAssertEqual(gateway.process.stderr.components(separatedBy: "answered 200: login request").count - 1, 1)
        // CONNECT without a token (302), the login GET, CONNECT with the fresh token.
        let lines = squid.waitForConnectLines(to: "localhost:\(gateway.port)", count: 3)
        XCTAssertEqual(lines.count, 3, "squid's access.log: \(lines)")
    }
}
