import Foundation
import XCTest

/// `uvtunnel udp` through the bundled gateway to a UDP echo on loopback:
/// datagrams come back byte-exact, each client address gets its own session,
/// and a destination the gateway refuses is logged as refused.
final class UDPTunnelTests: XCTestCase {
    private func startTunnel(gateway: GatewayFixture, destination: String, extra: [String] = []) throws -> (ChildProcess, UInt16) {
        let tunnel = try ChildProcess(Products.tunnel, ["udp", "--listen", "127.0.0.1:0", "--pomerium-url", "https://127.0.0.1:\(gateway.port)",
                                                        "--alternate-ca-path", gateway.caPath, "--service-account", try gateway.token()]
                                      + extra + [destination])
        return (tunnel, try XCTUnwrap(tunnel.listeningPort(), "uvtunnel udp did not start: \(tunnel.stderr)"))
    }

    private func exchange(port: UInt16, sizes: [Int], wait seconds: Int = 30) throws -> [String] {
        try udpExchange(port: port, sizes: sizes, wait: seconds)
    }

    func testDatagramsOfEverySizeComeBackExact() throws {
        let echo = try UDPEcho()
        defer { echo.stop() }
        let echoPort = echo.port
        let gateway = try GatewayFixture()
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "127.0.0.1:\(echoPort)")
        defer { tunnel.stop() }
        let sizes = [1, 1_200, 9_000, 65_507]
        XCTAssertEqual(try exchange(port: port, sizes: sizes), sizes.map { "\($0) ok" }, tunnel.stderr)
        // SIGTERM ends the sessions and the process, at once and cleanly.
        tunnel.signal(SIGTERM)
        XCTAssertEqual(tunnel.waitForExit(timeout: 5), 0, tunnel.stderr)
        XCTAssertEqual(tunnel.stderr.components(separatedBy: "disconnected 127.0.0.1:\(echoPort)").count, 5, tunnel.stderr)
    }

    func testThousandClientAddressesAtOnce() throws {
        let echo = try UDPEcho()
        defer { echo.stop() }
        let gateway = try GatewayFixture()
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "udp+https://127.0.0.1:\(echo.port)")
        defer { tunnel.stop() }
        let sizes = (0..<1_000).map { 100 + $0 }
        let lines = try exchange(port: port, sizes: sizes, wait: 90)
        XCTAssertEqual(lines.filter { !$0.hasSuffix(" ok") }, [], tunnel.stderr.suffix(3000).description)
        XCTAssertEqual(lines.count, 1_000)
    }

    /// Beyond --udp-max-sessions, new client addresses are dropped and
    /// counted (metrics), with one warning however many datagrams.
    func testSessionLimitDropsNewClientsCountedWithOneLine() throws {
        let echo = try UDPEcho()
        defer { echo.stop() }
        let gateway = try GatewayFixture()
        let metricsPort = try freeLoopbackPort()
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "127.0.0.1:\(echo.port)",
                                             extra: ["--udp-max-sessions", "10", "--metrics-addr", "127.0.0.1:\(metricsPort)"])
        defer { tunnel.stop() }
        let first = try exchange(port: port, sizes: Array(repeating: 50, count: 25), wait: 5)
        XCTAssertEqual(first.filter { $0 == "50 ok" }.count, 10, "\(first) \(tunnel.stderr)")
        XCTAssertEqual(first.filter { $0 == "50 timed out" }.count, 15, "\(first)")
        XCTAssertEqual(try exchange(port: port, sizes: Array(repeating: 60, count: 15), wait: 2), Array(repeating: "60 timed out", count: 15))
        let curl = try ChildProcess("/usr/bin/curl", ["-s", "http://127.0.0.1:\(metricsPort)/metrics"])
        XCTAssertEqual(curl.waitForExit(), 0)
        XCTAssertTrue(curl.stdout.contains("uvtunnel_udp_dropped_total{cause=\"session_limit\"} 30\n"), curl.stdout)
        XCTAssertTrue(curl.stdout.contains("uvtunnel_udp_sessions_open 10\n"), curl.stdout)
        XCTAssertEqual(tunnel.stderr.components(separatedBy: "UDP session limit of 10 reached").count, 2, tunnel.stderr)
    }

    /// --multiplex with a gateway that announces SETTINGS_ENABLE_CONNECT_PROTOCOL:
    /// every session is an extended CONNECT stream, so 40 client addresses
    /// share one HTTP/2 connection (the gateway logs each it opens), and
    /// datagrams up to the largest come back byte-exact.
    func testMultiplexCarriesSessionsAsHTTP2Streams() throws {
        let echo = try UDPEcho()
        defer { echo.stop() }
        let gateway = try GatewayFixture()
        let metricsPort = try freeLoopbackPort()
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "127.0.0.1:\(echo.port)",
                                             extra: ["--multiplex", "--metrics-addr", "127.0.0.1:\(metricsPort)"])
        defer { tunnel.stop() }
        XCTAssertEqual(try exchange(port: port, sizes: [1, 1_200, 65_507]), ["1 ok", "1200 ok", "65507 ok"], tunnel.stderr)
        let curl = try ChildProcess("/usr/bin/curl", ["-s", "http://127.0.0.1:\(metricsPort)/metrics"])
        XCTAssertEqual(curl.waitForExit(), 0)
        XCTAssertTrue(curl.stdout.contains("uvtunnel_gateway_connections_open{gateway=\"https://127.0.0.1:\(gateway.port)\"} 1\n"),
                      curl.stdout)
        let many = (0..<40).map { 1_000 + $0 }
        XCTAssertEqual(try exchange(port: port, sizes: many), many.map { "\($0) ok" }, tunnel.stderr)
        XCTAssertEqual(gateway.process.stderr.components(separatedBy: "HTTP/2 connection opened").count, 2, gateway.process.stderr)
        XCTAssertEqual(tunnel.stderr.components(separatedBy: "use HTTP/2 streams (extended CONNECT, connect-udp)").count, 2,
                       tunnel.stderr)
        XCTAssertFalse(tunnel.stderr.contains("use HTTP/1.1"), tunnel.stderr)
        // Each of the 43 sessions names its stream on the one shared connection.
        let opened = tunnel.stderr.split(separator: "\n").filter { $0.hasSuffix("] connected") }
        XCTAssertEqual(opened.count, 43, tunnel.stderr)
        XCTAssertEqual(opened.filter { $0.contains("connection=h2-1 stream=") }.count, 43, tunnel.stderr)
    }

    /// 1,000 client addresses with --multiplex: 1,000 streams on ten
    /// connections (100 streams each, the default), not 1,000 connections.
    func testMultiplexThousandClientAddressesShareTenConnections() throws {
        let echo = try UDPEcho()
        defer { echo.stop() }
        let gateway = try GatewayFixture()
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "127.0.0.1:\(echo.port)", extra: ["--multiplex"])
        defer { tunnel.stop() }
        let sizes = (0..<1_000).map { 100 + $0 }
        let lines = try exchange(port: port, sizes: sizes, wait: 90)
        XCTAssertEqual(lines.filter { !$0.hasSuffix(" ok") }, [], tunnel.stderr.suffix(3000).description)
        XCTAssertEqual(lines.count, 1_000)
        XCTAssertEqual(gateway.process.stderr.components(separatedBy: "HTTP/2 connection opened").count - 1, 10,
                       gateway.process.stderr.suffix(3000).description)
    }

    /// An idle session ends its stream with RST_STREAM(CANCEL); the shared connection stays.
    func testMultiplexIdleSessionResetsItsStream() throws {
        let echo = try UDPEcho()
        defer { echo.stop() }
        let gateway = try GatewayFixture()
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "127.0.0.1:\(echo.port)",
                                             extra: ["--multiplex", "--udp-idle-timeout", "500ms"])
        defer { tunnel.stop() }
        XCTAssertEqual(try exchange(port: port, sizes: [10]), ["10 ok"], tunnel.stderr)
        XCTAssertTrue(gateway.process.waitForOutput { $0.contains("stream=1 [UVTunnelGateway] stream reset by the client (code 8)") })
        XCTAssertEqual(try exchange(port: port, sizes: [20]), ["20 ok"], tunnel.stderr)
        XCTAssertEqual(gateway.process.stderr.components(separatedBy: "HTTP/2 connection opened").count, 2, gateway.process.stderr)
    }

    /// --multiplex with a gateway that serves no HTTP/2 (ALPN picks
    /// http/1.1): each session falls back to its own HTTP/1.1 connect-udp upgrade.
    func testMultiplexFallsBackToHTTP1WhenTheGatewayHasNoHTTP2() throws {
        let echo = try UDPEcho()
        defer { echo.stop() }
        let gateway = try GatewayFixture(["--no-http2"])
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "127.0.0.1:\(echo.port)", extra: ["--multiplex"])
        defer { tunnel.stop() }
        XCTAssertEqual(try exchange(port: port, sizes: [1, 1_200, 65_507]), ["1 ok", "1200 ok", "65507 ok"], tunnel.stderr)
        XCTAssertFalse(gateway.process.stderr.contains("HTTP/2 connection opened"), gateway.process.stderr)
        XCTAssertTrue(tunnel.stderr.contains("did not choose HTTP/2"), tunnel.stderr)
    }

    /// A refused connect-udp stream fails its session with one line, as over HTTP/1.1.
    func testMultiplexRefusedDestinationIsLoggedAsRefused() throws {
        let gateway = try GatewayFixture()  // admits loopback destinations only
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "192.0.2.7:53", extra: ["--multiplex"])
        defer { tunnel.stop() }
        XCTAssertEqual(try exchange(port: port, sizes: [5], wait: 3), ["5 timed out"])
        tunnel.waitForOutput { $0.contains("refused 192.0.2.7:53: 403 access denied by gateway policy") }
        XCTAssertTrue(gateway.process.stderr.contains("HTTP/2 connection opened"), gateway.process.stderr)
    }

    func testIdleSessionEndsWithOneLine() throws {
        let echo = try UDPEcho()
        defer { echo.stop() }
        let echoPort = echo.port
        let gateway = try GatewayFixture()
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "127.0.0.1:\(echoPort)", extra: ["--udp-idle-timeout", "500ms"])
        defer { tunnel.stop() }
        XCTAssertEqual(try exchange(port: port, sizes: [10]), ["10 ok"])
        tunnel.waitForOutput { $0.contains("disconnected 127.0.0.1:\(echoPort)") }
        XCTAssertEqual(tunnel.stderr.components(separatedBy: "disconnected 127.0.0.1:\(echoPort)").count, 2, tunnel.stderr)
    }

    func testRefusedDestinationIsLoggedAsRefused() throws {
        let gateway = try GatewayFixture()  // admits loopback destinations only
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "192.0.2.7:53")
        defer { tunnel.stop() }
        XCTAssertEqual(try exchange(port: port, sizes: [5], wait: 3), ["5 timed out"])
        tunnel.waitForOutput { $0.contains("refused 192.0.2.7:53: 403 access denied by gateway policy") }
    }

    func testListenDashIsRefused() throws {
        let process = try ChildProcess(Products.tunnel, ["udp", "--listen", "-", "db.example:53"])
        XCTAssertEqual(process.waitForExit(), 2)
        XCTAssertTrue(process.stderr.contains("--listen - is not supported by uvtunnel udp"), process.stderr)
    }

    /// A real UDP client and server: `dig` through the tunnel to a local dnsmasq.
    func testDNSQueryWithDigThroughTheTunnel() throws {
        let dnsPort = try freeLoopbackPort()
        let gateway = try GatewayFixture()
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "127.0.0.1:\(dnsPort)")
        defer { tunnel.stop() }
        let dnsmasq = try ChildProcess("/usr/sbin/dnsmasq", ["--no-daemon", "--conf-file=/dev/null", "--port=\(dnsPort)",
                                                             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                                                             "--no-hosts", "--pid-file=", "--address=/uvtunnel.test/192.0.2.55"])
        defer { dnsmasq.stop() }
        dnsmasq.waitForOutput { $0.contains("dnsmasq: started") }
        let dig = try ChildProcess("/usr/bin/dig", ["+short", "+time=5", "+tries=1", "-p", String(port), "@127.0.0.1", "www.uvtunnel.test"])
        // The answer, not dig's exit: Foundation's Process does not notice the
        // exit of a child started while dnsmasq runs (seen here, cause not found),
        // so the gateway and tunnel are started first and dig is read, not awaited.
        dig.waitForOutput(timeout: 30) { $0.contains("\n") }
        XCTAssertEqual(dig.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "192.0.2.55", tunnel.stderr)
        tunnel.waitForOutput { $0.contains("client=127.0.0.1:") && $0.contains("connected") }
    }
}
