import Foundation
import XCTest

/// `--recheck-interval` on `uvtunnel udp`: while sessions are open, one
/// connect-udp probe per interval; once the gateway's policy stops admitting
/// the destination, the next probe's 403 ends the open sessions with one
/// line, and a new client is refused as any would be.
final class UDPRecheckTests: XCTestCase {
    func testRecheckEndsSessionsThePolicyNoLongerAdmits() throws {
        try checkRecheckEndsSessions(extra: [])
    }

    /// The same with --multiplex: sessions and probes are streams on one connection.
    func testRecheckOverAStreamEndsSessionsThePolicyNoLongerAdmits() throws {
        let gateway = try checkRecheckEndsSessions(extra: ["--multiplex"])
        XCTAssertEqual(gateway.process.stderr.components(separatedBy: "HTTP/2 connection opened").count, 2, gateway.process.stderr)
    }

    @discardableResult
    private func checkRecheckEndsSessions(extra: [String], file: StaticString = #filePath, line: UInt = #line) throws -> GatewayFixture {
        let echo = try UDPEcho()
        defer { echo.stop() }
        let dir = TemporaryDirectory()
        let gateway = try allowFileGateway(admitting: "127.0.0.1:\(echo.port)", in: dir)
        let tunnel = try ChildProcess(Products.tunnel, ["udp", "--listen", "127.0.0.1:0", "--pomerium-url", "https://127.0.0.1:\(gateway.port)",
                                                        "--alternate-ca-path", gateway.caPath, "--service-account", try gateway.token(),
                                                        "--recheck-interval", "1s"] + extra + ["127.0.0.1:\(echo.port)"])
        defer { tunnel.stop() }
        let port = try XCTUnwrap(tunnel.listeningPort(), tunnel.stderr, file: file, line: line)
        // Two sessions stay open (the idle timeout is 2 minutes); rechecks pass while the policy admits them.
        XCTAssertEqual(try udpExchange(port: port, sizes: [10, 20]), ["10 ok", "20 ok"], tunnel.stderr, file: file, line: line)
        tunnel.waitForOutput(file: file, line: line) { $0.components(separatedBy: "recheck probe: success").count > 2 }
        XCTAssertFalse(tunnel.stderr.contains("recheck: the gateway answered"), tunnel.stderr, file: file, line: line)

        try admitNothing(gateway, allowFileIn: dir, file: file, line: line)
        tunnel.waitForOutput(file: file, line: line) {
            $0.contains("recheck: the gateway answered 403 access denied by gateway policy for 127.0.0.1:\(echo.port); closing 2 tunnel(s)")
        }
        // Each session's own line names why it ended.
        let why = "recheck: the gateway answered 403 access denied by gateway policy for 127.0.0.1:\(echo.port)"
        tunnel.waitForOutput(file: file, line: line) { text in
            text.split(separator: "\n").filter { $0.contains("] disconnected 127.0.0.1:\(echo.port): ") && $0.hasSuffix(why) }.count == 2
        }
        // A new client now opens a session the gateway refuses.
        XCTAssertEqual(try udpExchange(port: port, sizes: [30], wait: 3), ["30 timed out"], file: file, line: line)
        tunnel.waitForOutput(file: file, line: line) { $0.contains("refused 127.0.0.1:\(echo.port): 403 access denied by gateway policy") }
        return gateway
    }
}
