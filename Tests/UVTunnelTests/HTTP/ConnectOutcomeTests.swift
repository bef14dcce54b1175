import XCTest
@testable import UVTunnel

final class ConnectOutcomeTests: XCTestCase {
    func testSpecTable() {
        XCTAssertEqual(ConnectOutcome(status: 200), .open)
        for status in [301, 302, 307, 308, 401] {
            XCTAssertEqual(ConnectOutcome(status: status), .signInRequired, "\(status)")
        }
        XCTAssertEqual(ConnectOutcome(status: 403), .accessDenied)
        XCTAssertEqual(ConnectOutcome(status: 404), .routeNotFound)
        XCTAssertEqual(ConnectOutcome(status: 450), .deviceNotAuthorized)
        XCTAssertEqual(ConnectOutcome(status: 495), .badClientCertificate)
        for status in [500, 502, 503, 504, 599] {
            XCTAssertEqual(ConnectOutcome(status: status), .gatewayError(status), "\(status)")
        }
    }

    func testOthersAreUnexpected() {
        for status in [100, 101, 201, 204, 300, 303, 304, 400, 402, 405, 407, 418, 429, 496, 0, 600, -1] {
            XCTAssertEqual(ConnectOutcome(status: status), .unexpected(status), "\(status)")
        }
    }

    func testOnlySignInDropsTheToken() {
        for status in [301, 302, 307, 308, 401] {
            XCTAssertTrue(ConnectOutcome(status: status).dropsToken, "\(status)")
        }
        // SPEC: 403, 404 and 5xx keep the token (pomerium-cli deletes it on 404).
        for status in [200, 403, 404, 450, 495, 500, 503, 418, 303] {
            XCTAssertFalse(ConnectOutcome(status: status).dropsToken, "\(status)")
        }
    }

    func testLogMessages() {
        XCTAssertEqual(ConnectOutcome(status: 200).logMessage, "200 tunnel open")
        XCTAssertEqual(ConnectOutcome(status: 302).logMessage, "sign-in required")
        XCTAssertEqual(ConnectOutcome(status: 403).logMessage, "403 access denied by gateway policy")
        XCTAssertEqual(ConnectOutcome(status: 404).logMessage, "404 route not found on the gateway")
        XCTAssertEqual(ConnectOutcome(status: 450).logMessage, "450 device not authorised")
        XCTAssertEqual(ConnectOutcome(status: 495).logMessage, "495 client certificate rejected by the gateway")
        XCTAssertEqual(ConnectOutcome(status: 500).logMessage, "500 gateway error")
        XCTAssertEqual(ConnectOutcome(status: 502).logMessage, "502 bad gateway")
        XCTAssertEqual(ConnectOutcome(status: 503).logMessage, "503 gateway unavailable")
        XCTAssertEqual(ConnectOutcome(status: 504).logMessage, "504 gateway timed out")
        XCTAssertEqual(ConnectOutcome(status: 418).logMessage, "418 unexpected response from the gateway")
    }

    func testLogMessageWithStatus() {
        XCTAssertEqual(ConnectOutcome.logMessage(status: 302), "302 sign-in required")
        XCTAssertEqual(ConnectOutcome.logMessage(status: 401), "401 sign-in required")
        XCTAssertEqual(ConnectOutcome.logMessage(status: 403), "403 access denied by gateway policy")
        XCTAssertEqual(ConnectOutcome.logMessage(status: 503), "503 gateway unavailable")
        XCTAssertEqual(ConnectOutcome.logMessage(status: 418), "418 unexpected response from the gateway")
    }
}
