import Foundation
import XCTest

/// A burst of tunnels through uvtunnel's HTTP/1.1 path (one TLS connection
/// each) to the bundled gateway, which issues TLS 1.3 tickets: the first
/// connection does the full handshake and every other one, held until its
/// ticket came, resumes (uvtunnel's trace line "TLS established" says which).
final class SessionResumptionTests: XCTestCase {
    func testABurstOfTunnelsResumesTheFirstHandshakesSession() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()),
                                       environment: ["LOG_LEVEL": "trace"])
        let count = 40
        let failures = try parallelEchoFailures(port: tunnel.port, count: count, size: { _ in 1024 })
        XCTAssertEqual(failures, [], "\(failures.count) of \(count) tunnels failed")
        _ = tunnel.process.waitForOutput { $0.components(separatedBy: "TLS established").count - 1 == count }
        let lines = tunnel.process.stderr.split(separator: "\n").filter { $0.contains("TLS established") }
        XCTAssertEqual(lines.count, count, tunnel.process.stderr)
        XCTAssertEqual(lines.filter { $0.contains("resumed=false") }.count, 1, lines.joined(separator: "\n"))
        XCTAssertEqual(lines.filter { $0.contains("resumed=true") }.count, count - 1, lines.joined(separator: "\n"))
    }
}
