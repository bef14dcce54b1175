import XCTest
@testable import UVTunnel

final class TunnelFailureTests: XCTestCase {
    func testMessagesNameNoFlagAndHintsSayWhatToChange() {
        XCTAssertEqual(TunnelFailure.answered(status: 403).message, "403 access denied by gateway policy")
        XCTAssertEqual(TunnelFailure.answered(status: 200).message,
                       "200 unexpected response from the gateway (connect-udp needs 101 Switching Protocols)")
        XCTAssertEqual(TunnelFailure.answered(status: 200).metricClass, "unexpected_status")
        let timeout = TunnelFailure.timedOut(stage: .handshaking, milliseconds: 2000, activity: "in the TLS handshake with gateway gw:443")
        XCTAssertEqual(timeout.message, "timed out after 2.0s in the TLS handshake with gateway gw:443")
        XCTAssertEqual(timeout.hint, .connectTimeout)
        XCTAssertEqual(TunnelFailure.dial(.certificate(peer: "gateway gw:443", reason: "unable to get local issuer certificate")).hint, .trustCA)
        for failure in [TunnelFailure.answered(status: 404), .dial(.resolve(name: "gateway gw", reason: "unknown node")), timeout,
                        .lifetimeReached(milliseconds: 1000), .shutdown(drained: true)] {
            XCTAssertFalse(failure.message.contains("--"), "library text names no flag: \(failure.message)")
            XCTAssertTrue(TunnelFailure.metricClasses.contains(failure.metricClass), failure.metricClass)
        }
    }
}
