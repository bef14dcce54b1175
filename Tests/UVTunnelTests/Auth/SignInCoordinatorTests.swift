import Foundation
import Logging
import XCTest
@testable import UVTunnel

/// The loop's side of sign-in, state by state, with a fake sign-in thread:
/// one sign-in however many tunnels wait, rejected and expired tokens, the
/// auth timeout, failures, and shutdown.
final class SignInCoordinatorTests: XCTestCase {
    private var loop: EventLoop!
    private var runner: FakeSignInRunner!
    private var results: [Result<String, SignInFailure>] = []

    override func setUpWithError() throws {
        loop = try EventLoop()
        runner = FakeSignInRunner()
        results = []
    }

    override func tearDown() {
        loop.closeAfterRunning()
        loop = nil
    }

    private func coordinator(cached: String? = nil, authTimeoutMilliseconds: UInt64 = 60_000,
                             gateway: String = "gw.corp") throws -> SignInCoordinator {
        let route = Route(destination: "db.corp:5432", gatewayHost: gateway, gatewayPort: 443, useTLS: true)
        let settings = SignInSettings(route: route, tls: try TLSContext.client(TLSClientOptions()), verifyHostName: true,
                                      browserCommand: nil, openBrowser: false,
                                      cache: TokenCache(directory: "/nonexistent/uvtunnel-unit-test"))
        return SignInCoordinator(loop: loop, settings: settings, runner: runner, cachedToken: cached,
                                 authTimeoutMilliseconds: authTimeoutMilliseconds, logger: .quiet)
    }

    private func waiter() -> (Result<String, SignInFailure>) -> Void {
        { [weak self] result in self?.results.append(result) }
    }

    /// A token whose `exp` is `fromNow` seconds away (negative: expired). Not
    /// signed: the client only reads the expiry, the gateway verifies.
    private func token(expiringIn fromNow: TimeInterval, subject: String) -> String {
        let exp = Int(Date().timeIntervalSince1970 + fromNow)
        return Base64URL.encode(#"{"alg":"ES256"}"#) + "." + Base64URL.encode(#"{"sub":"\#(subject)","exp":\#(exp)}"#)
            + "." + Base64URL.encode([UInt8](repeating: 7, count: 64))
    }

    /// The CLI runs one sign-in thread for every gateway and hands each result
    /// to every coordinator: a result must reach only the one that asked.
    func testTwoGatewaysSharingTheSignInThreadNeverTakeEachOthersToken() throws {
        let first = try coordinator(gateway: "gw1.corp")
        let second = try coordinator(gateway: "gw2.corp")
        XCTAssertEqual(first.rejected(nil, waiter: waiter()), .later)
        XCTAssertEqual(second.rejected(nil, waiter: waiter()), .later)
        XCTAssertEqual(runner.sent, [.start(id: 1, replacing: nil), .start(id: 2, replacing: nil)], "one id per sign-in, not per gateway")
        for signIn in [first, second] { signIn.handle(.finished(id: 1, .success("GW1-TOKEN"))) }
        XCTAssertEqual(results.count, 1, "only the first gateway's waiter is answered")
        XCTAssertEqual(first.token(waiter: waiter()), .now("GW1-TOKEN"))
        XCTAssertEqual(second.token(waiter: waiter()), .later, "the second gateway still waits for its own sign-in")
        for signIn in [first, second] { signIn.handle(.finished(id: 2, .success("GW2-TOKEN"))) }
        XCTAssertEqual(second.token(waiter: waiter()), .now("GW2-TOKEN"))
        XCTAssertEqual(first.token(waiter: waiter()), .now("GW1-TOKEN"))
        first.close()
        second.close()
    }

    func testOneSignInForManyWaiters() throws {
        let signIn = try coordinator()
        XCTAssertEqual(signIn.token(waiter: waiter()), .now(nil), "no token known: try without one")
        for _ in 0..<5 {
            XCTAssertEqual(signIn.rejected(nil, waiter: waiter()), .later)
        }
        XCTAssertEqual(signIn.token(waiter: waiter()), .later, "a new tunnel during the sign-in waits too")
        XCTAssertEqual(runner.sent, [.start(id: 1, replacing: nil)], "one sign-in for all")
        XCTAssertEqual(signIn.signInsStarted, 1)
        XCTAssertTrue(results.isEmpty)

        signIn.handle(.finished(id: 1, .success("T1")))
        XCTAssertEqual(results, Array(repeating: .success("T1"), count: 6))
        XCTAssertEqual(signIn.token(waiter: waiter()), .now("T1"))
        XCTAssertEqual(results.count, 6, "a token at hand calls no waiter")
        signIn.close()
    }

    func testRejectedTokenIsDroppedAndAFreshOneServesEveryone() throws {
        let signIn = try coordinator(cached: "OLD")
        XCTAssertEqual(signIn.token(waiter: waiter()), .now("OLD"))
        XCTAssertEqual(signIn.rejected("OLD", waiter: waiter()), .later)
        XCTAssertEqual(signIn.rejected("OLD", waiter: waiter()), .later, "a second tunnel with the same token")
        XCTAssertEqual(runner.sent, [.deleteCached(token: "OLD"), .start(id: 1, replacing: "OLD")])

        signIn.handle(.finished(id: 1, .success("NEW")))
        XCTAssertEqual(results, [.success("NEW"), .success("NEW")])
        // A tunnel that sent the old token before the sign-in ended: no new sign-in.
        XCTAssertEqual(signIn.rejected("OLD", waiter: waiter()), .now("NEW"))
        XCTAssertEqual(runner.sent.count, 2)

        // The fresh token rejected too: dropped, and a second sign-in.
        XCTAssertEqual(signIn.rejected("NEW", waiter: waiter()), .later)
        XCTAssertEqual(runner.sent.suffix(2), [.deleteCached(token: "NEW"), .start(id: 2, replacing: "NEW")])
        signIn.handle(.finished(id: 1, .success("STALE")))
        XCTAssertEqual(results.count, 2, "an answer for an earlier sign-in is ignored")
        signIn.handle(.finished(id: 2, .success("NEWER")))
        XCTAssertEqual(results.last, .success("NEWER"))
        XCTAssertEqual(signIn.signInsStarted, 2)
        signIn.close()
    }

    func testAnExpiredTokenIsNotSentAndSignsInAtOnce() throws {
        let expired = token(expiringIn: -60, subject: "alice")
        let signIn = try coordinator(cached: expired)
        XCTAssertEqual(signIn.token(waiter: waiter()), .later)
        XCTAssertEqual(runner.sent, [.start(id: 1, replacing: expired)], "kept in the cache: only a rejection deletes")
        let fresh = token(expiringIn: 3600, subject: "alice")
        signIn.handle(.finished(id: 1, .success(fresh)))
        XCTAssertEqual(results, [.success(fresh)])
        XCTAssertEqual(signIn.token(waiter: waiter()), .now(fresh), "a token that has not expired is sent")
        signIn.close()
    }

    func testAuthTimeoutFailsEveryWaiterAndCancelsTheSignIn() throws {
        let signIn = try coordinator(authTimeoutMilliseconds: 20)
        XCTAssertEqual(signIn.rejected(nil, waiter: waiter()), .later)
        XCTAssertEqual(signIn.rejected(nil, waiter: waiter()), .later)
        loop.run()  // until the auth timer fires: nothing else is active
        XCTAssertEqual(runner.sent, [.start(id: 1, replacing: nil), .cancel(id: 1)])
        XCTAssertEqual(results.count, 2)
        for result in results {
            guard case .failure(let failure) = result else { return XCTFail("\(result)") }
            XCTAssertTrue(failure.message.contains("did not finish within"), failure.message)
            XCTAssertTrue(failure.message.contains("gw.corp"), failure.message)
        }
        signIn.handle(.finished(id: 1, .success("TOO LATE")))
        XCTAssertEqual(results.count, 2)
        XCTAssertEqual(signIn.token(waiter: waiter()), .now(nil), "a late answer is not adopted")
        XCTAssertEqual(signIn.rejected(nil, waiter: waiter()), .later, "the next tunnel tries again")
        XCTAssertEqual(runner.sent.last, .start(id: 2, replacing: nil))
        signIn.close()
    }

    func testAFailureReachesEveryWaiterAndTheNextTunnelTriesAgain() throws {
        let signIn = try coordinator()
        for _ in 0..<3 { _ = signIn.rejected(nil, waiter: waiter()) }
        let failure = SignInFailure("the browser said no")
        signIn.handle(.finished(id: 1, .failure(failure)))
        XCTAssertEqual(results, Array(repeating: .failure(failure), count: 3))
        XCTAssertEqual(signIn.token(waiter: waiter()), .now(nil))
        XCTAssertEqual(signIn.rejected(nil, waiter: waiter()), .later)
        XCTAssertEqual(runner.sent, [.start(id: 1, replacing: nil), .start(id: 2, replacing: nil)])
        signIn.close()
    }

    func testCloseFailsWhoeverWaitsAndCancelsTheSignIn() throws {
        let signIn = try coordinator()
        _ = signIn.rejected(nil, waiter: waiter())
        _ = signIn.token(waiter: waiter())
        signIn.close()
        XCTAssertEqual(runner.sent, [.start(id: 1, replacing: nil), .cancel(id: 1)])
        XCTAssertEqual(results, Array(repeating: .failure(SignInFailure("shutting down before sign-in finished")), count: 2))
        signIn.close()  // idempotent
    }
}
