import Foundation
import XCTest

/// `uvtunnel udp` through the bundled gateway to a UDP echo on loopback:
/// datagrams come back byte-exact, each client address gets its own session,
/// and a destination the gateway refuses is logged as refused.
final class UDPTunnelTests: XCTestCase {
    /// A UDP echo on 127.0.0.1; prints its port, then answers every datagram to its sender.
    private static let echo = """
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1], flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)
    """

    /// Sends each size from its own socket (one client address each, all at
    /// once), waits for the echoes, and prints one line per size: "SIZE ok" or why not.
    private static let client = """
    import os, socket, sys, time
    port = int(sys.argv[1]); sizes = [int(n) for n in sys.argv[2].split(",")]
    socks = []
    for n in sizes:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(("127.0.0.1", 0)); socks.append((s, os.urandom(n)))
    for s, d in socks: s.sendto(d, ("127.0.0.1", port))
    deadline = time.time() + float(sys.argv[3])
    for (s, d), n in zip(socks, sizes):
        s.settimeout(max(0.1, deadline - time.time()))
        try:
            got, _ = s.recvfrom(70000)
            print(n, "ok" if got == d else "differs (%d bytes back)" % len(got))
        except socket.timeout:
            print(n, "timed out")
    """

    private func startEcho() throws -> (ChildProcess, UInt16) {
        let echo = try ChildProcess("/usr/bin/env", ["python3", "-c", Self.echo])
        var port: UInt16?
        echo.waitForOutput { text in
            port = UInt16(text.trimmingCharacters(in: .whitespacesAndNewlines))
            return port != nil
        }
        return (echo, try XCTUnwrap(port, "echo did not start: \(echo.stderr)"))
    }

    private func startTunnel(gateway: GatewayFixture, destination: String, extra: [String] = []) throws -> (ChildProcess, UInt16) {
        let tunnel = try ChildProcess(Products.tunnel, ["udp", "--listen", "127.0.0.1:0", "--pomerium-url", "https://127.0.0.1:\(gateway.port)",
                                                        "--alternate-ca-path", gateway.caPath, "--service-account", try gateway.token()]
                                      + extra + [destination])
        return (tunnel, try XCTUnwrap(tunnel.listeningPort(), "uvtunnel udp did not start: \(tunnel.stderr)"))
    }

    /// Runs the client for `sizes`; returns its lines.
    private func exchange(port: UInt16, sizes: [Int], wait seconds: Int = 30) throws -> [String] {
        let run = try ChildProcess("/usr/bin/env", ["python3", "-c", Self.client, String(port), sizes.map(String.init).joined(separator: ","),
                                                    String(seconds)])
        XCTAssertEqual(run.waitForExit(timeout: 60), 0, run.stderr)
        return run.stdout.split(separator: "\n").map(String.init)
    }

    func testDatagramsOfEverySizeComeBackExact() throws {
        let (echo, echoPort) = try startEcho()
        defer { echo.stop() }
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

    func testHundredClientAddressesAtOnce() throws {
        let (echo, echoPort) = try startEcho()
        defer { echo.stop() }
        let gateway = try GatewayFixture()
        let (tunnel, port) = try startTunnel(gateway: gateway, destination: "udp+https://127.0.0.1:\(echoPort)")
        defer { tunnel.stop() }
        let sizes = (0..<100).map { 100 + $0 }
        XCTAssertEqual(try exchange(port: port, sizes: sizes), sizes.map { "\($0) ok" }, tunnel.stderr)
    }

    func testIdleSessionEndsWithOneLine() throws {
        let (echo, echoPort) = try startEcho()
        defer { echo.stop() }
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
