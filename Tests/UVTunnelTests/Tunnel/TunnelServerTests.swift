import Glibc
import XCTest
@testable import UVTunnel

/// The server's registry and policy over the fake connector: counters by
/// outcome, the recheck probe, closing every tunnel, drain, and stopping.
/// Local clients are in-memory pairs handed to `open(local:)`.
final class TunnelServerTests: XCTestCase {
    private final class Rig {
        let loop: EventLoop
        let connector = FakeConnector()
        let tokens = FakeTokenSource()
        let logs = LogCapture()
        let server: TunnelServer
        var locals: [MemoryStreamPair] = []
        var gateways: [MemoryStreamPair] = []
        var outcomes: [Tunnel.Outcome] = []

        init(loop: EventLoop) {
            self.loop = loop
            let route = Route(destination: "db.corp:5432", gatewayHost: "gw.corp", gatewayPort: 443, useTLS: true)
            server = TunnelServer(loop: loop, options: TunnelOptions(route: route, tls: nil), tokens: tokens,
                                  connector: connector, logger: logs.logger(level: .info))
            server.onTunnelClosed = { [unowned self] _, outcome in self.outcomes.append(outcome) }
        }

        /// A local client connects; returns the client's end.
        @discardableResult
        func connectClient() -> MemoryStream {
            let pair = MemoryStreamPair(loop: loop)
            locals.append(pair)
            server.open(local: pair.b)
            return pair.a
        }

        /// The connector's attempt `index` opens; returns the gateway's end.
        @discardableResult
        func open(_ index: Int) -> MemoryStream {
            let pair = MemoryStreamPair(loop: loop)
            gateways.append(pair)
            connector.attempts[index].succeed(pair.a)
            return pair.b
        }
    }

    private func withRig(_ body: (Rig) throws -> Void, file: StaticString = #filePath, line: UInt = #line) rethrows {
        let loop = try! EventLoop()
        do {
            let rig = Rig(loop: loop)
            try body(rig)
            for pair in rig.locals + rig.gateways {
                pair.a.close()
                pair.b.close()
            }
        }
        loop.closeAfterRunning(file: file, line: line)
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer back in the pool", file: file, line: line)
    }

    func testCountersByOutcomeAndTheRegistry() {
        withRig { rig in
            rig.tokens.answerToken = .now("T")
            for _ in 0..<3 { rig.connectClient() }
            XCTAssertEqual(rig.server.openTunnelCount, 3)
            // The memory reclaimer's signal: three opening, each ending once.
            XCTAssertEqual(rig.loop.connectionsOpening, 3)
            XCTAssertEqual(rig.connector.attempts.map(\.token), ["T", "T", "T"])
            rig.connector.attempts[0].fail(.answered(status: 403))
            rig.connector.attempts[1].fail(.dial(.connect(name: "gateway gw.corp:443", address: "192.0.2.1:443", reason: "connection refused")))
            let gateway = rig.open(2)
            XCTAssertEqual(rig.server.openTunnelCount, 1)
            XCTAssertEqual(rig.loop.connectionsOpening, 0, "refused, failed and opened all left the count")
            // The relaying tunnel ends cleanly from both sides.
            PayloadSender(rig.locals[2].a, pool: rig.loop.buffers, payload: Data("up".utf8), shutdownAfter: true).start()
            PayloadSender(gateway, pool: rig.loop.buffers, payload: Data("down".utf8), shutdownAfter: true).start()
            ReadCollector(gateway, pool: rig.loop.buffers).start()
            ReadCollector(rig.locals[2].a, pool: rig.loop.buffers).start()
            rig.loop.run()
            XCTAssertEqual(rig.server.openTunnelCount, 0)
            XCTAssertEqual(rig.server.counters.refused, 1)
            XCTAssertEqual(rig.server.counters.failed, 1)
            XCTAssertEqual(rig.server.counters.completed, 1)
            XCTAssertEqual(rig.outcomes.map(\.metricClass).sorted(), ["completed", "connect", "denied"])
            XCTAssertEqual(rig.loop.connectionsOpening, 0)
            XCTAssertEqual(rig.loop.connectionChurn, 3 + 3 + 3, "each started, finished opening and closed once")
        }
    }

    func testWaitingTunnelsAreCountedAsWaiting() {
        withRig { rig in
            rig.tokens.answerToken = .later
            rig.connectClient()
            rig.connectClient()
            XCTAssertEqual(rig.server.waitingTunnelCount, 2)
            XCTAssertTrue(rig.connector.attempts.isEmpty)
            rig.tokens.finish(.success("T"))
            XCTAssertEqual(rig.server.waitingTunnelCount, 0)
            XCTAssertEqual(rig.connector.attempts.count, 2)
            rig.server.closeAll(reason: "test over")
        }
    }

    // MARK: Recheck probe

    func testProbeOpenClosesItsStreamAndAnswers200() {
        withRig { rig in
            rig.tokens.answerToken = .now("T")
            var answers: [Int?] = []
            rig.server.probeGateway { answers.append($0) }
            rig.server.probeGateway { _ in XCTFail("one probe at a time") }
            XCTAssertEqual(rig.connector.attempts.count, 1)
            XCTAssertEqual(rig.connector.attempts[0].token, "T")
            rig.open(0)
            XCTAssertEqual(answers, [200])
            XCTAssertTrue(rig.gateways[0].a.isClosed, "the probe hangs up as soon as it knows")
            XCTAssertEqual(rig.server.openTunnelCount, 0, "a probe is no tunnel")
        }
    }

    func testProbeStatusesAndNetworkTrouble() {
        withRig { rig in
            var answers: [Int?] = []
            rig.server.probeGateway { answers.append($0) }
            rig.connector.attempts[0].fail(.answered(status: 403))
            rig.server.probeGateway { answers.append($0) }
            rig.connector.attempts[1].fail(.timedOut(stage: .connecting, milliseconds: 15_000, activity: "connecting"))
            XCTAssertEqual(answers, [403, nil], "a network failure closes nothing: no status")
        }
    }

    func testNoProbeWhileASignInIsUnderWay() {
        withRig { rig in
            rig.tokens.answerToken = .later
            var answers: [Int?] = []
            rig.server.probeGateway { answers.append($0) }
            XCTAssertEqual(answers, [nil])
            XCTAssertTrue(rig.connector.attempts.isEmpty, "a probe never waits for a sign-in")
        }
    }

    // MARK: Closing

    func testCloseAllRevokesEveryTunnelInEveryState() {
        withRig { rig in
            rig.tokens.answerToken = .now("T")
            rig.connectClient()  // connecting
            rig.connectClient()
            rig.open(1)  // relaying
            rig.server.closeAll(reason: "recheck: the gateway answered 403")
            XCTAssertEqual(rig.outcomes, Array(repeating: .failed(.revoked("recheck: the gateway answered 403")), count: 2))
            XCTAssertTrue(rig.connector.attempts[0].isCancelled)
            XCTAssertEqual(rig.server.openTunnelCount, 0)
            XCTAssertEqual(rig.loop.connectionsOpening, 0, "a tunnel closed while connecting left the count")
        }
    }

    func testShutdownDrainsRelayingTunnelsThenClosesTheRest() {
        withRig { rig in
            rig.tokens.answerToken = .now("T")
            rig.connectClient()
            rig.connectClient()
            rig.open(0)
            rig.open(1)
            var drained = 0
            rig.server.onDrained = { drained += 1 }
            rig.server.shutdown(drainMilliseconds: 20)
            XCTAssertEqual(drained, 0, "relaying tunnels get the drain time")
            // One ends on its own within the drain time; the other is closed by it.
            rig.locals[0].a.close()
            rig.gateways[0].b.close()
            rig.loop.run()
            XCTAssertEqual(drained, 1)
            XCTAssertEqual(rig.outcomes.count, 2)
            XCTAssertEqual(rig.outcomes.last, .failed(.shutdown(drained: true)))
        }
    }

    func testShutdownClosesTunnelsThatHaveNotOpenedAtOnce() {
        withRig { rig in
            rig.tokens.answerToken = .later
            rig.connectClient()  // waiting for a sign-in
            rig.tokens.answerToken = .now("T")
            rig.connectClient()  // connecting
            rig.connectClient()
            rig.open(1)  // relaying
            var drained = 0
            rig.server.onDrained = { drained += 1 }
            rig.server.shutdown(drainMilliseconds: 60_000)
            XCTAssertEqual(rig.outcomes, Array(repeating: .failed(.shutdown(drained: false)), count: 2),
                           "the waiting and the connecting tunnel close at once")
            XCTAssertTrue(rig.connector.attempts[0].isCancelled)
            XCTAssertEqual(rig.server.openTunnelCount, 1, "the relaying one drains")
            XCTAssertEqual(drained, 0)
            // A second signal: the drain ends now, long before its 60 s.
            rig.server.abortDrain()
            XCTAssertEqual(rig.outcomes.last, .failed(.shutdownCutShort))
            XCTAssertEqual(drained, 1)
            XCTAssertEqual(rig.server.openTunnelCount, 0)
            rig.tokens.finish(.success("T"))  // a sign-in finishing late opens nothing
            XCTAssertEqual(rig.connector.attempts.count, 2)
        }
    }

    func testShutdownWithOnlyWaitingTunnelsIsDrainedAtOnce() {
        withRig { rig in
            rig.tokens.answerToken = .later
            rig.connectClient()
            rig.connectClient()
            var drained = 0
            rig.server.onDrained = { drained += 1 }
            rig.server.shutdown(drainMilliseconds: 60_000)
            XCTAssertEqual(drained, 1, "nothing was relaying: no drain")
            XCTAssertEqual(rig.outcomes.count, 2)
        }
    }

    /// A local client accepted on a real port gets TCP_NODELAY and keepalive
    /// (what ends a tunnel whose client vanished while its direction was
    /// stalled), with an idle time in the spread range, from the listener.
    func testAcceptedLocalClientsGetNoDelayAndKeepAlive() throws {
        try withRig { rig in
            rig.tokens.answerToken = .now("T")
            let address = try rig.server.listen(on: try SocketAddress(ip: "127.0.0.1", port: 0))
            let client = BlockingSocket.connected(to: address)
            defer { Glibc.close(client) }
            rig.loop.spin("the accept", seconds: 10, file: #filePath, line: #line) { rig.connector.attempts.count == 1 }
            let accepted = try XCTUnwrap(BlockingSocket.acceptedEnd(of: client), "uvtunnel's end of the local connection")
            let options = BlockingSocket.keepAliveOptions(accepted)
            XCTAssertEqual(options["TCP_NODELAY"], 1)
            XCTAssertEqual(options["SO_KEEPALIVE"], 1)
            XCTAssertEqual(options["TCP_KEEPINTVL"], 1)
            XCTAssertEqual(options["TCP_KEEPCNT"], 10)
            let idle = try XCTUnwrap(options["TCP_KEEPIDLE"] ?? nil)
            XCTAssert((60..<120).contains(idle), "idle \(idle) s")
            rig.server.stopAccepting()
            rig.connector.attempts[0].fail(.answered(status: 404))
        }
    }

    func testStopAcceptingFinishesAfterTheLastTunnel() {
        withRig { rig in
            rig.tokens.answerToken = .now("T")
            rig.connectClient()
            var finished = 0
            rig.server.onFinished = { finished += 1 }
            rig.server.stopAccepting()
            XCTAssertEqual(finished, 0, "an open tunnel runs on")
            rig.connector.attempts[0].fail(.answered(status: 404))
            XCTAssertEqual(finished, 1)
        }
    }
}
