import Foundation
import XCTest

/// Bytes through uvtunnel → bundled gateway → target, all real processes and
/// sockets on 127.0.0.1.
final class TunnelDataTests: XCTestCase {
    func testTwentyMiBEachWayByteExactWithHalfClose() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()))
        let payload = randomBytes(20 << 20)
        // The echo target only half-closes back after our EOF reached it: the
        // full echo arriving and then EOF proves half-close went both ways.
        let echoed = try echoRoundTrip(port: tunnel.port, payload: payload)
        XCTAssertEqual(echoed.count, payload.count)
        XCTAssert(echoed == payload, "echoed bytes differ")
        tunnel.process.waitForOutput { $0.contains("disconnected 127.0.0.1:\(target.port): 20971520 bytes up, 20971520 bytes down") }
    }

    func testTwoHundredParallelTunnelsByteExact() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()))
        let count = 200
        // All 200 connections are open at once before any data flows.
        let failures = try parallelEchoFailures(port: tunnel.port, count: count)
        XCTAssertEqual(failures, [], "\(failures.count) of \(count) tunnels failed")
        XCTAssertEqual(target.acceptedCount, count)
    }

    func testALowSoftDescriptorLimitIsRaisedToTheHardOne() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let arguments = TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
        // A soft limit of 64 under the machine's hard one: 150 tunnels need over 300 descriptors.
        let process = try ChildProcess("/bin/sh", ["-c", "ulimit -S -n 64 && exec \"$0\" \"$@\"", Products.tunnel,
                                                   "--listen", "127.0.0.1:0"] + arguments)
        let port = try XCTUnwrap(process.listeningPort())
        XCTAssertEqual(try parallelEchoFailures(port: port, count: 150, size: { 1000 + $0 }), [], process.stderr)
    }

    func testTargetThatSpeaksFirst() throws {
        let greeting = Array("SSH-2.0-target-speaks-first\r\n".utf8)
        let target = try TargetServer(.speakFirst(greeting))
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()))
        let socket = try TestSocket.connect(port: tunnel.port)
        // Nothing sent by us: the greeting must still arrive (it may share a
        // read with the gateway's 200 and must not be dropped or held).
        XCTAssertEqual(try socket.receive(exactly: greeting.count), greeting)
        try socket.send(Array("ping".utf8))
        XCTAssertEqual(try socket.receive(exactly: 4), Array("ping".utf8))
    }

    func testTargetThatAnswersOnlyAfterClientEOF() throws {
        let target = try TargetServer(.answerAfterEOF)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()))
        let socket = try TestSocket.connect(port: tunnel.port)
        try socket.send(randomBytes(100_000))
        socket.shutdownWrite()
        // pomerium-cli tears the tunnel down at the first EOF; the answer would be lost.
        XCTAssertEqual(String(decoding: try socket.receiveAll(), as: UTF8.self), "got 100000 bytes")
    }

    func testPlainHTTPGatewayWithPomeriumURL() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--plain"])
        let tunnel = try TunnelFixture(["--pomerium-url", "http://127.0.0.1:\(gateway.port)",
                                        "--service-account", try gateway.token(), "127.0.0.1:\(target.port)"])
        let payload = randomBytes(300_000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload)
    }

    func testRouteAsURLWithPathNamesTheGateway() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(["--alternate-ca-path", gateway.caPath, "--service-account", try gateway.token(),
                                        "https://127.0.0.1:\(gateway.port)/127.0.0.1:\(target.port)"])
        let payload = randomBytes(10_000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload)
    }
}

/// Collects per-iteration failures from concurrent work.
final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String?]
    init(count: Int) { values = Array(repeating: "not run", count: count) }
    func set(_ i: Int, _ failure: String?) { lock.withLock { values[i] = failure } }
    var failures: [String] { lock.withLock { values.compactMap { $0 } } }
}
