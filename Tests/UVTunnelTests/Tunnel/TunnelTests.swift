import CShims
import Logging
import XCTest
@testable import UVTunnel

/// `Tunnel`'s policy state by state with a fake connector and token source:
/// the local client on an in-memory pair, the gateway on another. Every
/// transition, close in each state, and the one log line and outcome.
final class TunnelTests: XCTestCase {
    private let destination = "db.corp:5432"

    private final class Rig {
        let loop: EventLoop
        /// client (a) ⇄ tunnel's local side (b)
        let local: MemoryStreamPair
        let connector = FakeConnector()
        let tokens = FakeTokenSource()
        let logs = LogCapture()
        var outcomes: [Tunnel.Outcome] = []
        var gateways: [MemoryStreamPair] = []
        private(set) var tunnel: Tunnel!

        init(loop: EventLoop, options: TunnelOptions) {
            self.loop = loop
            local = MemoryStreamPair(loop: loop)
            tunnel = Tunnel(id: 7, loop: loop, local: local.b, options: SharedOptions(options), tokens: tokens,
                            connector: connector, logger: logs.logger(level: .info)) { [unowned self] tunnel, outcome in
                XCTAssertTrue(tunnel === self.tunnel)
                self.outcomes.append(outcome)
            }
        }

        var pool: BufferPool { loop.buffers }
        var client: MemoryStream { local.a }
        var attempt: FakeConnectAttempt? { connector.attempts.last }
        /// Lines at info and above: what a user sees by default.
        var lines: [String] { logs.lines(atLeast: .info).map(\.message) }

        /// Ends the current attempt with a fresh gateway stream; returns the
        /// gateway's end of it.
        @discardableResult
        func connect() -> MemoryStream {
            let pair = MemoryStreamPair(loop: loop)
            gateways.append(pair)
            attempt?.succeed(pair.a)
            return pair.b
        }
    }

    private func options(lifetime: UInt64? = nil) -> TunnelOptions {
        var options = TunnelOptions(route: Route(destination: destination, gatewayHost: "gw.corp", gatewayPort: 443, useTLS: true), tls: nil)
        options.maxLifetimeMilliseconds = lifetime
        options.hints = { hint in "HINT:\(hint.rawValue)" }
        return options
    }

    /// `lines`: how many lines at info or above the scenario logs (one per
    /// tunnel, plus "auth required" for a retry).
    private func withRig(lifetime: UInt64? = nil, lines: Int = 1, _ body: (Rig) throws -> Void,
                         file: StaticString = #filePath, line: UInt = #line) rethrows {
        let loop = try! EventLoop()
        do {
            let rig = Rig(loop: loop, options: options(lifetime: lifetime))
            try body(rig)
            if rig.tunnel.state != .closed { rig.tunnel.close(.completed) }
            XCTAssertEqual(rig.outcomes.count, 1, "one outcome: \(rig.outcomes)", file: file, line: line)
            XCTAssertEqual(rig.lines.count, lines, "one line at info or above per tunnel: \(rig.lines)", file: file, line: line)
            XCTAssertTrue(rig.local.b.isClosed, "the tunnel closed its local side", file: file, line: line)
            for gateway in rig.gateways { XCTAssertTrue(gateway.a.isClosed, "and its gateway side", file: file, line: line) }
            for end in [rig.local.a] + rig.gateways.map(\.b) { end.close() }
        }
        loop.closeAfterRunning(file: file, line: line)
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer back in the pool", file: file, line: line)
    }

    // MARK: Token, connect, relay

    func testTokenNowConnectsAndRelaysWithHalfCloseEachWay() {
        withRig { rig in
            rig.tokens.answerToken = .now("T")
            rig.tunnel.start()
            XCTAssertEqual(rig.tunnel.state, .connecting)
            XCTAssertEqual(rig.connector.attempts.count, 1)
            XCTAssertEqual(rig.attempt?.token, "T")
            XCTAssertEqual(rig.attempt?.destination, destination)
            rig.attempt?.stage = .handshaking
            XCTAssertEqual(rig.tunnel.connectStage, .handshaking, "the connector's stage shows through")
            XCTAssertFalse(rig.local.b.isReading, "the local side is not read before the relay")

            let gateway = rig.connect()
            XCTAssertEqual(rig.tunnel.state, .relaying)
            XCTAssertNotNil(rig.tunnel.setupMilliseconds)
            XCTAssertNil(rig.tunnel.connectStage)
            let atGateway = ReadCollector(gateway, pool: rig.pool)
            let atClient = ReadCollector(rig.client, pool: rig.pool)
            atGateway.start()
            atClient.start()
            PayloadSender(rig.client, pool: rig.pool, payload: Data("hello".utf8), shutdownAfter: true).start()
            rig.loop.run()
            XCTAssertEqual(atGateway.text, "hello")
            XCTAssertEqual(atGateway.end, .eof, "the client's end reaches the gateway")
            XCTAssertEqual(rig.tunnel.state, .relaying, "half-closed: still relaying")
            PayloadSender(gateway, pool: rig.pool, payload: Data("world!".utf8), shutdownAfter: true).start()
            rig.loop.run()
            XCTAssertEqual(atClient.text, "world!")
            XCTAssertEqual(atClient.end, .eof)
            XCTAssertEqual(rig.tunnel.state, .closed)
            XCTAssertEqual(rig.outcomes, [.completed])
            XCTAssertEqual(rig.outcomes.first?.metricClass, "completed")
            XCTAssertEqual(rig.tunnel.bytesUp, 5)
            XCTAssertEqual(rig.tunnel.bytesDown, 6)
            XCTAssertEqual(rig.logs.lines(atLeast: .info).first?.level, .info)
            XCTAssertTrue(rig.lines.first?.hasPrefix("disconnected db.corp:5432: 5 bytes up, 6 bytes down, ") == true, "\(rig.lines)")
        }
    }

    func testTheGatewayEndsFirst() {
        withRig { rig in
            rig.tunnel.start()
            let gateway = rig.connect()
            let atClient = ReadCollector(rig.client, pool: rig.pool)
            let atGateway = ReadCollector(gateway, pool: rig.pool)
            atClient.start()
            atGateway.start()
            PayloadSender(gateway, pool: rig.pool, payload: Data("bye".utf8), shutdownAfter: true).start()
            rig.loop.run()
            XCTAssertEqual(atClient.text, "bye")
            XCTAssertEqual(atClient.end, .eof)
            XCTAssertTrue(rig.outcomes.isEmpty, "the client may still send")
            PayloadSender(rig.client, pool: rig.pool, payload: Data("ok".utf8), shutdownAfter: true).start()
            rig.loop.run()
            XCTAssertEqual(atGateway.text, "ok")
            XCTAssertEqual(rig.outcomes, [.completed])
        }
    }

    func testNoTokenKnownConnectsWithout() {
        withRig { rig in
            rig.tokens.answerToken = .now(nil)
            rig.tunnel.start()
            XCTAssertEqual(rig.connector.attempts.count, 1)
            XCTAssertNil(rig.attempt?.token)
        }
    }

    func testTokenLaterWaitsThenConnectsWithIt() {
        withRig { rig in
            rig.tokens.answerToken = .later
            rig.tunnel.start()
            XCTAssertEqual(rig.tunnel.state, .waitingForToken)
            XCTAssertTrue(rig.connector.attempts.isEmpty)
            rig.tokens.finish(.success("FRESH"))
            XCTAssertEqual(rig.tunnel.state, .connecting)
            XCTAssertEqual(rig.attempt?.token, "FRESH")
            rig.connect()
            XCTAssertEqual(rig.tunnel.state, .relaying)
        }
    }

    func testTokenLaterThenSignInFailureRefuses() {
        withRig { rig in
            rig.tokens.answerToken = .later
            rig.tunnel.start()
            let failure = SignInFailure("sign-in to gw.corp:443 did not finish within 0.1s", hint: .authTimeout)
            rig.tokens.finish(.failure(failure))
            XCTAssertEqual(rig.outcomes, [.failed(.signIn(failure))])
            XCTAssertTrue(rig.connector.attempts.isEmpty)
            XCTAssertEqual(rig.lines, ["refused db.corp:5432: sign-in to gw.corp:443 did not finish within 0.1s (HINT:authTimeout)"])
            XCTAssertEqual(rig.logs.lines(atLeast: .info).first?.level, .error)
        }
    }

    func testNoTokenToBeHadRefusesAtOnce() {
        withRig { rig in
            rig.tokens.answerToken = .failed(SignInFailure("the service account token was rejected", hint: .serviceAccount))
            rig.tunnel.start()
            XCTAssertEqual(rig.tunnel.state, .closed)
            XCTAssertEqual(rig.outcomes.first?.metricClass, "sign_in")
            XCTAssertTrue(rig.connector.attempts.isEmpty)
        }
    }

    // MARK: Connector failures

    func testEachConnectorFailureClosesWithItsClassAndOneLine() {
        let failures: [(TunnelFailure, String, String)] = [
            (.dial(.resolve(name: "gateway gw.corp", reason: "unknown node or service")), "resolve", "failed"),
            (.dial(.connect(name: "gateway gw.corp:443", address: "192.0.2.1:443", reason: "connection refused")), "connect", "failed"),
            (.dial(.proxyExchange("egress proxy p:3128 closed the connection")), "egress_proxy", "failed"),
            (.dial(.tlsHandshake(peer: "gateway gw.corp:443", reason: "TLS handshake failed: wrong version number")), "tls_handshake", "failed"),
            (.dial(.certificate(peer: "gateway gw.corp:443", reason: "self-signed certificate")), "tls_verify", "failed"),
            (.timedOut(stage: .handshaking, milliseconds: 15_000, activity: "in the TLS handshake with gateway gw.corp:443"), "timeout", "failed"),
            (.answered(status: 403), "denied", "refused"),
            (.answered(status: 404), "not_found", "refused"),
            (.answered(status: 502), "gateway_error", "refused"),
            (.exchange(.badAnswer(HTTPHeadError(message: "gateway closed the connection before sending a response"))), "bad_answer", "failed"),
            (.exchange(.send("sending CONNECT to the gateway: broken pipe")), "bad_answer", "failed"),
        ]
        for (failure, metricClass, verb) in failures {
            withRig { rig in
                rig.tokens.answerToken = .now("T")
                rig.tunnel.start()
                rig.attempt?.fail(failure)
                XCTAssertEqual(rig.tunnel.state, .closed)
                XCTAssertEqual(rig.outcomes, [.failed(failure)])
                XCTAssertEqual(rig.outcomes.first?.metricClass, metricClass)
                XCTAssertEqual(rig.connector.attempts.count, 1, "no retry for \(failure)")
                XCTAssertTrue(rig.tokens.rejectedTokens.isEmpty, "the token is kept for \(failure)")
                let line = rig.lines.first ?? ""
                XCTAssertTrue(line.hasPrefix("\(verb) db.corp:5432: \(failure.message)"), line)
                if let hint = failure.hint {
                    XCTAssertTrue(line.hasSuffix("(HINT:\(hint.rawValue))"), "the owner's spelling of the hint: \(line)")
                } else {
                    XCTAssertFalse(line.contains("HINT"), line)
                }
            }
        }
    }

    // MARK: Sign-in and one retry

    func testSignInRequiredLeadsToOneSignInAndOneRetry() {
        for status in [401, 302] {
            // "auth required" is the one extra line a retry costs.
            withRig(lines: 2) { rig in
                rig.tokens.answerToken = .now("OLD")
                rig.tokens.answerRejected = .later
                rig.tunnel.start()
                rig.attempt?.fail(.answered(status: status))
                XCTAssertEqual(rig.tunnel.state, .waitingForToken)
                XCTAssertEqual(rig.tokens.rejectedTokens, ["OLD"], "the rejected token is named")
                XCTAssertTrue(rig.lines.first?.hasPrefix("auth required: ") == true, "\(rig.lines)")
                XCTAssertEqual(rig.connector.attempts.count, 1)
                rig.tokens.finish(.success("NEW"))
                XCTAssertEqual(rig.connector.attempts.count, 2)
                XCTAssertEqual(rig.attempt?.token, "NEW")
                rig.connect()
                XCTAssertEqual(rig.tunnel.state, .relaying)
                rig.tunnel.close(.completed)
            }
        }
    }

    func testARetryWithATokenAnotherTunnelAlreadyGot() {
        withRig(lines: 2) { rig in
            rig.tokens.answerToken = .now("OLD")
            rig.tokens.answerRejected = .now("NEWER")
            rig.tunnel.start()
            rig.attempt?.fail(.answered(status: 401))
            XCTAssertEqual(rig.connector.attempts.count, 2, "retried at once")
            XCTAssertEqual(rig.attempt?.token, "NEWER")
            rig.attempt?.fail(.answered(status: 403))
            XCTAssertEqual(rig.outcomes, [.failed(.answered(status: 403))])
        }
    }

    func testASecondRejectionEndsTheTunnel() {
        withRig(lines: 2) { rig in
            rig.tokens.answerToken = .now("OLD")
            rig.tokens.answerRejected = .later
            rig.tunnel.start()
            rig.attempt?.fail(.answered(status: 401))
            rig.tokens.finish(.success("NEW"))
            rig.attempt?.fail(.answered(status: 401))
            XCTAssertEqual(rig.outcomes, [.failed(.rejectedAfterSignIn(status: 401))])
            XCTAssertEqual(rig.tokens.rejectedTokens, ["OLD"], "one sign-in, never a loop")
            XCTAssertEqual(rig.connector.attempts.count, 2)
            XCTAssertTrue(rig.lines.last?.hasSuffix("; the gateway rejected the token from a fresh sign-in too") == true, "\(rig.lines)")
        }
    }

    func testTheSignInForTheRetryFails() {
        withRig(lines: 2) { rig in
            rig.tokens.answerToken = .now("OLD")
            rig.tokens.answerRejected = .later
            rig.tunnel.start()
            rig.attempt?.fail(.answered(status: 401))
            rig.tokens.finish(.failure(SignInFailure("the browser could not be started")))
            XCTAssertEqual(rig.outcomes, [.failed(.signIn(SignInFailure("the browser could not be started")))])
        }
    }

    // MARK: Relay failures and lifetime

    func testARelayErrorNamesItsSide() {
        for gatewaySide in [true, false] {
            withRig { rig in
                rig.tunnel.start()
                let gateway = rig.connect()
                ReadCollector(gateway, pool: rig.pool).start()
                ReadCollector(rig.client, pool: rig.pool).start()
                rig.loop.run()
                (gatewaySide ? rig.gateways[0].a : rig.local.b).injectReadError()
                rig.loop.run()
                let message = MemoryStream.error(UV_ECONNRESET, "read").message
                XCTAssertEqual(rig.outcomes, [.failed(.relay(side: gatewaySide ? .gateway : .local, message: message))])
                XCTAssertEqual(rig.outcomes.first?.metricClass, gatewaySide ? "gateway_io" : "local_io")
                XCTAssertEqual(rig.logs.lines(atLeast: .info).first?.level, .warning, "a relaying tunnel that fails is a warning")
            }
        }
    }

    func testMaximumLifetimeClosesARelayingTunnel() {
        withRig(lifetime: 20) { rig in
            rig.tunnel.start()
            rig.connect()
            rig.loop.run()  // until the lifetime timer fires
            XCTAssertEqual(rig.outcomes, [.failed(.lifetimeReached(milliseconds: 20))])
            XCTAssertTrue(rig.lines.first?.hasSuffix("(HINT:maxLifetime)") == true, "\(rig.lines)")
        }
    }

    // MARK: Close in every state

    func testCloseWhileWaitingForAToken() {
        withRig { rig in
            rig.tokens.answerToken = .later
            rig.tunnel.start()
            rig.tunnel.close(.failed(.shutdown(drained: false)))
            XCTAssertEqual(rig.tunnel.state, .closed)
            rig.tokens.finish(.success("LATE"))
            XCTAssertTrue(rig.connector.attempts.isEmpty, "a token after the close starts nothing")
            XCTAssertEqual(rig.outcomes.first?.metricClass, "shutdown")
        }
    }

    func testCloseWhileConnectingCancelsTheAttempt() {
        withRig { rig in
            rig.tunnel.start()
            rig.tunnel.close(.failed(.shutdown(drained: false)))
            XCTAssertEqual(rig.attempt?.isCancelled, true)
            XCTAssertEqual(rig.lines, ["failed db.corp:5432: closed at shutdown before the tunnel opened"])
        }
    }

    func testCloseWhileRelayingWithBytesInFlight() {
        withRig { rig in
            rig.tunnel.start()
            let gateway = rig.connect()
            let atGateway = ReadCollector(gateway, pool: rig.pool)
            atGateway.pauseAfter = 1  // a gateway that stops reading: the relay holds a queued write
            atGateway.start()
            PayloadSender(rig.client, pool: rig.pool, payload: testPayload(1 << 20)).start()
            rig.loop.run()
            XCTAssertGreaterThan(rig.gateways[0].a.queuedBytes, 0)
            rig.tunnel.close(.failed(.shutdown(drained: true)))
            rig.tunnel.close(.completed)  // idempotent: no second line or outcome
            rig.loop.run()
            XCTAssertEqual(rig.outcomes, [.failed(.shutdown(drained: true))])
            XCTAssertTrue(rig.lines.first?.hasPrefix("disconnected db.corp:5432: ") == true, "\(rig.lines)")
            XCTAssertTrue(rig.lines.first?.hasSuffix("closed at shutdown after the drain time (HINT:drainTimeout)") == true, "\(rig.lines)")
            XCTAssertGreaterThan(rig.tunnel.bytesUp, 0, "the byte counts outlive the relay")
        }
    }

    func testCloseBeforeStart() {
        withRig { rig in
            rig.tunnel.close(.failed(.shutdown(drained: false)))
            rig.tunnel.start()
            XCTAssertTrue(rig.connector.attempts.isEmpty, "a closed tunnel does not start")
        }
    }
}
