import Foundation
import XCTest

/// `protocol = "udp"` in a config file: one process serves a TCP and a UDP
/// listener on the same port number (RDP's pair on 3389), and both wait on
/// one sign-in to their gateway.
final class UDPConfigTests: XCTestCase {
    private func logins(_ gateway: GatewayFixture) -> Int {
        gateway.process.stderr.components(separatedBy: "answered 200: login request").count - 1
    }

    func testTCPAndUDPOnOnePortNumberShareOneSignIn() throws {
        try checkTCPAndUDPShareOneSignIn(multiplex: false)
    }

    /// The same with `multiplex = true`: the 302 on the first stream waits
    /// for the one sign-in and the tunnels retry; the tcp tunnel and the UDP
    /// sessions (extended CONNECT streams) share one HTTP/2 connection.
    func testMultiplexedTCPAndUDPShareOneSignInAndOneConnection() throws {
        let (gateway, tunnel) = try checkTCPAndUDPShareOneSignIn(multiplex: true)
        let refusals = gateway.process.stderr.split(separator: "\n").filter { $0.contains("answered 302: no token") }
        XCTAssertEqual(refusals.count, 1, gateway.process.stderr)
        XCTAssertTrue(refusals.allSatisfy { $0.contains("stream=") }, "answered on an HTTP/2 stream: \(refusals)")
        XCTAssertEqual(tunnel.stderr.components(separatedBy: "opened HTTP/2 connection").count, 2, tunnel.stderr)
        XCTAssertTrue(tunnel.stderr.contains("use HTTP/2 streams (extended CONNECT, connect-udp)"), tunnel.stderr)
        let opened = tunnel.stderr.split(separator: "\n").filter { $0.hasSuffix("] connected") }
        XCTAssertEqual(opened.count, 4, "the tcp tunnel and three UDP sessions: \(tunnel.stderr)")
        XCTAssertTrue(opened.allSatisfy { $0.contains("connection=h2-1 ") }, tunnel.stderr)
    }

    @discardableResult
    private func checkTCPAndUDPShareOneSignIn(multiplex: Bool) throws -> (GatewayFixture, ChildProcess) {
        let tcpTarget = try TargetServer(.echo)
        let udpTarget = try UDPEcho()
        defer { udpTarget.stop() }
        let gateway = try GatewayFixture(["--auto-approve"])
        let cache = TemporaryDirectory()
        // The browser takes a second, so the TCP connection and the datagram both wait for the sign-in.
        let browser = try ScriptedBrowser(in: cache, before: "sleep 1")
        let port = try freeLoopbackPort()
        let config = cache.path + "/rdp.toml"
        try """
        pomerium-url = "https://127.0.0.1:\(gateway.port)"
        alternate-ca-path = "\(gateway.caPath)"
        browser-cmd = "\(browser.command)"
        multiplex = \(multiplex)

        [[tunnel]]
        listen = "127.0.0.1:\(port)"
        route = "127.0.0.1:\(tcpTarget.port)"

        [[tunnel]]
        protocol = "udp"
        listen = "127.0.0.1:\(port)"
        route = "udp+https://127.0.0.1:\(udpTarget.port)"
        udp-idle-timeout = "1m"
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let tunnel = try ChildProcess(Products.tunnel, ["--config", config], environment: ["XDG_CACHE_HOME": cache.path])
        defer { tunnel.stop() }
        tunnel.waitForOutput { $0.contains("listening on 127.0.0.1:\(port) (UDP)") }
        XCTAssertTrue(tunnel.stderr.contains("listening on 127.0.0.1:\(port), tunnelling to 127.0.0.1:\(tcpTarget.port)"), tunnel.stderr)

        let payload = randomBytes(100_000)
        let echoed = Box<[UInt8]?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            echoed.value = try? echoRoundTrip(port: port, payload: payload)
            done.signal()
        }.start()
        XCTAssertEqual(try udpExchange(port: port, sizes: [1, 1_200, 9_000]), ["1 ok", "1200 ok", "9000 ok"], tunnel.stderr)
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(echoed.value, payload, tunnel.stderr)
        XCTAssertEqual(browser.starts, 1, "one browser for the TCP and the UDP listener")
        XCTAssertEqual(logins(gateway), 1, "one login request")
        return (gateway, tunnel)
    }

    /// SIGHUP: a udp entry that is gone closes with its sessions; a new one binds and serves.
    func testReloadMovesAUDPEntry() throws {
        let echo = try UDPEcho()
        defer { echo.stop() }
        let gateway = try GatewayFixture()
        let directory = TemporaryDirectory()
        let token = try writeTokenFile(gateway, in: directory)
        let (first, second) = (try freeLoopbackPort(), try freeLoopbackPort())
        let config = directory.path + "/udp.toml"
        func write(_ port: UInt16) throws {
            try """
            pomerium-url = "https://127.0.0.1:\(gateway.port)"
            alternate-ca-path = "\(gateway.caPath)"
            service-account-file = "\(token)"

            [[tunnel]]
            protocol = "udp"
            listen = "127.0.0.1:\(port)"
            route = "127.0.0.1:\(echo.port)"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        try write(first)
        let tunnel = try ChildProcess(Products.tunnel, ["--config", config])
        defer { tunnel.stop() }
        tunnel.waitForOutput { $0.contains("listening on 127.0.0.1:\(first) (UDP)") }
        XCTAssertEqual(try udpExchange(port: first, sizes: [10]), ["10 ok"], tunnel.stderr)
        try write(second)
        tunnel.signal(SIGHUP)
        tunnel.waitForOutput { $0.contains("listening on 127.0.0.1:\(second) (UDP)") }
        XCTAssertTrue(tunnel.stderr.contains("UDP route 127.0.0.1:\(echo.port) on 127.0.0.1:\(first) removed: its 1 session(s) end"), tunnel.stderr)
        XCTAssertEqual(try udpExchange(port: second, sizes: [20]), ["20 ok"], tunnel.stderr)
        XCTAssertEqual(try udpExchange(port: first, sizes: [30], wait: 1), ["30 timed out"], "the old listener is closed")
        XCTAssertNil(tunnel.waitForExit(timeout: 0.2), tunnel.stderr)
    }

    /// Runs uvtunnel on `text` as its config file; it must refuse it with exit 2. Returns its stderr.
    private func refused(_ text: String, extra: [String] = []) throws -> (stderr: String, path: String) {
        let directory = TemporaryDirectory()
        let config = directory.path + "/tunnels.toml"
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try ChildProcess(Products.tunnel, ["--config", config] + extra)
        XCTAssertEqual(process.waitForExit(), 2, process.stderr)
        return (process.stderr, config)
    }

    func testAMistakeInAUDPEntryNamesItsLine() throws {
        let (stderr, config) = try refused("""
        [[tunnel]]
        listen = "127.0.0.1:3389"
        route = "rdp.example:3389"

        [[tunnel]]
        protocol = "quic"
        listen = "127.0.0.1:3389"
        route = "rdp.example:3389"
        """)
        // One line names the file, the line and what is wrong.
        let lines = stderr.split(separator: "\n").filter { $0.contains("--config \(config)") }
        XCTAssertEqual(lines.count, 1, stderr)
        XCTAssertTrue(lines.first?.hasSuffix(#"--config \#(config): line 6: protocol must be "tcp" or "udp", got "quic""#) ?? false, stderr)
    }

    func testWorkersRefuseUDPEntries() throws {
        let (stderr, _) = try refused("""
        [[tunnel]]
        protocol = "udp"
        listen = "127.0.0.1:0"
        route = "dns.example:53"
        service-account = "token"
        """, extra: ["--workers", "2"])
        XCTAssertTrue(stderr.contains(#"--workers does not serve protocol = "udp" entries yet (config line 1)"#), stderr)
    }

    func testAUDPRouteInATCPEntryIsRefused() throws {
        let (stderr, _) = try refused("""
        [[tunnel]]
        listen = "127.0.0.1:5353"
        route = "udp+https://dns.example:53"
        """)
        XCTAssertTrue(stderr.contains(#"config line 1: invalid route "udp+https://dns.example:53": a UDP route needs protocol = "udp" in its [[tunnel]]"#),
                      stderr)
    }
}
