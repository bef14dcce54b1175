import CShims
import XCTest
@testable import UVTunnel

/// The CONNECT client state by state over an in-memory pair: the client on
/// end A, the test playing the gateway on end B.
final class ConnectClientTests: XCTestCase {
    private let request = Array("CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n".utf8)

    private struct Rig {
        let loop: EventLoop
        let pair: MemoryStreamPair
        let client: ConnectClient
        let gateway: ReadCollector
        var pool: BufferPool { loop.buffers }

        /// The gateway side sends `text` (whether the client ever takes it is the test's question).
        func answer(_ text: String) {
            pair.b.write(pool.buffers(copying: Array(text.utf8))) { _ in }
        }
    }

    private final class Outcome {
        var results: [Result<ConnectClient.Answer, ConnectClient.Failure>] = []
        var answer: ConnectClient.Answer? {
            guard case .success(let answer) = results.first else { return nil }
            return answer
        }
        var failure: ConnectClient.Failure? {
            guard case .failure(let failure) = results.first else { return nil }
            return failure
        }
    }

    /// Builds the rig, runs `body`, then checks the client never closed the
    /// stream (the caller owns it), closes it, and checks nothing leaked.
    private func withRig(capacity: Int = 64 * 1024, maxRead: Int = .max, headLimit: Int = 16 * 1024,
                         _ body: (Rig, Outcome) throws -> Void, file: StaticString = #filePath, line: UInt = #line) rethrows {
        let loop = try! EventLoop()
        do {
            let pair = MemoryStreamPair(loop: loop, capacity: capacity, maxRead: maxRead)
            let gateway = ReadCollector(pair.b, pool: loop.buffers)
            gateway.start()
            let rig = Rig(loop: loop, pair: pair, client: ConnectClient(stream: pair.a, pool: loop.buffers, peer: "gateway", headLimit: headLimit),
                          gateway: gateway)
            let outcome = Outcome()
            try body(rig, outcome)
            XCTAssertLessThanOrEqual(outcome.results.count, 1, "one completion at most", file: file, line: line)
            XCTAssertFalse(pair.a.isClosed, "the stream stays the caller's", file: file, line: line)
            if let leftover = outcome.answer?.leftover { loop.buffers.give(leftover) }
            pair.a.close()
            pair.b.close()
        }
        loop.closeAfterRunning(file: file, line: line)
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer back in the pool", file: file, line: line)
    }

    private func start(_ rig: Rig, _ outcome: Outcome) {
        rig.client.start(request: request) { outcome.results.append($0) }
    }

    func testSendingThenAwaitingHeadThenEstablishedWithLeftoverBytes() {
        withRig { rig, outcome in
            XCTAssertEqual(rig.client.state, .idle)
            start(rig, outcome)
            XCTAssertEqual(rig.client.state, .sending)
            rig.loop.run()
            XCTAssertEqual(rig.client.state, .awaitingHead, "the request is out")
            XCTAssertEqual(rig.gateway.data, Data(request), "the request, byte for byte")
            XCTAssertTrue(outcome.results.isEmpty)

            rig.answer("HTTP/1.1 200 Connection established\r\nX-Extra: 1\r\n\r\nfirst tunnel bytes")
            rig.loop.run()
            XCTAssertEqual(rig.client.state, .established)
            XCTAssertEqual(outcome.answer?.head.status, 200)
            XCTAssertEqual(outcome.answer?.head.reason, "Connection established")
            XCTAssertEqual(outcome.answer?.leftover.map { String(decoding: $0.bytes, as: UTF8.self) }, "first tunnel bytes")
            XCTAssertFalse(rig.pair.a.isReading, "handed back unread")
            XCTAssertNil(rig.pair.a.onRead)
        }
    }

    func testEstablishedWithNothingAfterTheHeadHasNoLeftover() {
        withRig { rig, outcome in
            start(rig, outcome)
            rig.answer("HTTP/1.1 200 OK\r\n\r\n")
            rig.loop.run()
            XCTAssertEqual(rig.client.state, .established)
            XCTAssertNotNil(outcome.answer)
            XCTAssertNil(outcome.answer?.leftover, "never an empty leftover")
            // Later tunnel bytes wait in the stream for its next reader.
            rig.answer("later")
            rig.loop.run()
            XCTAssertEqual(rig.pair.a.inbound.count, 5)
        }
    }

    func testAHeadSplitAcrossManyReads() {
        withRig(maxRead: 3) { rig, outcome in
            start(rig, outcome)
            rig.answer("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            rig.loop.run()
            XCTAssertEqual(outcome.answer?.head.status, 403, "a refusal is an answer: what it means is the caller's")
            XCTAssertNil(outcome.answer?.leftover)
            XCTAssertGreaterThan(rig.pair.a.readsDelivered, 10)
        }
    }

    /// A peer may answer before the request is all written (a gateway that
    /// refuses at once); the answer is read from the start.
    func testAnAnswerBeforeTheRequestIsWrittenIsTaken() {
        withRig(capacity: 8) { rig, outcome in
            rig.gateway.pauseAfter = 1  // the gateway reads a few bytes, then answers
            start(rig, outcome)
            rig.loop.run()
            XCTAssertEqual(rig.client.state, .sending, "the request waits for room")
            rig.answer("HTTP/1.1 401 Unauthorized\r\n\r\n")
            rig.loop.run()
            XCTAssertEqual(rig.client.state, .established)
            XCTAssertEqual(outcome.answer?.head.status, 401)
            rig.gateway.start()
            rig.loop.run()
            XCTAssertEqual(rig.client.state, .established, "the write completing later changes nothing")
        }
    }

    // MARK: Failures

    func testABadHeadFails() {
        withRig { rig, outcome in
            start(rig, outcome)
            rig.answer("SSH-2.0-OpenSSH_9.6\r\n\r\n")
            rig.loop.run()
            XCTAssertEqual(rig.client.state, .failed)
            guard case .badAnswer(let error) = outcome.failure else { return XCTFail("\(outcome.results)") }
            XCTAssertTrue(error.message.contains("gateway"), error.message)
            XCTAssertFalse(rig.pair.a.isReading)
        }
    }

    func testAHeadOverTheLimitFails() {
        withRig(headLimit: 256) { rig, outcome in
            start(rig, outcome)
            rig.answer("HTTP/1.1 200 OK\r\nX-Padding: " + String(repeating: "p", count: 1000) + "\r\n\r\n")
            rig.loop.run()
            guard case .badAnswer = outcome.failure else { return XCTFail("\(outcome.results)") }
            XCTAssertEqual(rig.client.state, .failed)
        }
    }

    func testEOFBeforeTheHeadFails() {
        withRig { rig, outcome in
            start(rig, outcome)
            rig.loop.run()
            rig.pair.b.shutdownWrite { XCTAssertNil($0) }
            rig.loop.run()
            XCTAssertEqual(outcome.failure, .badAnswer(HTTPHeadError(message: "gateway closed the connection before sending a response")))
            XCTAssertEqual(rig.client.state, .failed)
        }
    }

    func testEOFInsideTheHeadSaysHowFarItGot() {
        withRig { rig, outcome in
            start(rig, outcome)
            rig.answer("HTTP/1.1 200 OK\r\n")
            rig.loop.run()
            rig.pair.b.shutdownWrite { XCTAssertNil($0) }
            rig.loop.run()
            guard case .badAnswer(let error) = outcome.failure else { return XCTFail("\(outcome.results)") }
            XCTAssertTrue(error.message.contains("before the end of the response head"), error.message)
        }
    }

    func testAWriteErrorFailsTheSend() {
        withRig { rig, outcome in
            rig.pair.a.injectWriteError()
            start(rig, outcome)
            XCTAssertTrue(outcome.results.isEmpty, "not from inside start")
            rig.loop.run()
            XCTAssertEqual(outcome.failure, .send("sending CONNECT to the gateway: \(MemoryStream.error(UV_EPIPE, "write").message)"))
            XCTAssertEqual(rig.client.state, .failed)
        }
    }

    func testAReadErrorFailsTheReceive() {
        withRig { rig, outcome in
            start(rig, outcome)
            rig.loop.run()
            rig.pair.a.injectReadError()
            rig.loop.run()
            XCTAssertEqual(outcome.failure, .receive("reading the gateway's answer: \(MemoryStream.error(UV_ECONNRESET, "read").message)"))
            XCTAssertEqual(rig.client.state, .failed)
        }
    }

    // MARK: Cancel in every state

    func testCancelWhileSendingCallsNothingBack() {
        withRig(capacity: 8) { rig, outcome in
            start(rig, outcome)
            XCTAssertEqual(rig.client.state, .sending)
            rig.client.cancel()
            XCTAssertEqual(rig.client.state, .failed)
            rig.answer("HTTP/1.1 200 OK\r\n\r\n")
            rig.loop.run()
            XCTAssertTrue(outcome.results.isEmpty)
            XCTAssertFalse(rig.pair.a.isReading, "no longer read")
        }
    }

    func testCancelWhileAwaitingTheHeadCallsNothingBack() {
        withRig { rig, outcome in
            start(rig, outcome)
            rig.loop.run()
            XCTAssertEqual(rig.client.state, .awaitingHead)
            rig.answer("HTTP/1.1 200 O")  // half a head
            rig.loop.run()
            rig.client.cancel()
            rig.answer("K\r\n\r\n")
            rig.loop.run()
            XCTAssertTrue(outcome.results.isEmpty)
            XCTAssertEqual(rig.client.state, .failed)
            XCTAssertFalse(rig.pair.a.isReading)
        }
    }

    func testCancelBeforeStartAndAfterTheEndChangesNothing() {
        withRig { rig, outcome in
            rig.client.cancel()
            XCTAssertEqual(rig.client.state, .idle, "nothing to cancel yet")
            start(rig, outcome)
            rig.answer("HTTP/1.1 200 OK\r\n\r\n")
            rig.loop.run()
            XCTAssertEqual(rig.client.state, .established)
            rig.client.cancel()
            XCTAssertEqual(rig.client.state, .established, "an established exchange stays so")
            XCTAssertEqual(outcome.results.count, 1)
        }
        withRig { rig, outcome in
            start(rig, outcome)
            rig.answer("garbage\r\n\r\n")
            rig.loop.run()
            XCTAssertEqual(rig.client.state, .failed)
            rig.client.cancel()
            XCTAssertEqual(outcome.results.count, 1)
        }
    }

    /// The owner closes the stream without cancelling while the request is
    /// still queued: the cancelled write ends the exchange, once.
    func testTheStreamClosedWhileSendingFailsTheSend() {
        let loop = try! EventLoop()
        do {
            let pair = MemoryStreamPair(loop: loop, capacity: 8)
            let client = ConnectClient(stream: pair.a, pool: loop.buffers, peer: "egress proxy p:3128")
            var results: [Result<ConnectClient.Answer, ConnectClient.Failure>] = []
            client.start(request: request) { results.append($0) }
            pair.a.close()
            loop.run()
            XCTAssertEqual(results.count, 1)
            guard case .failure(.send(let message)) = results.first else { return XCTFail("\(results)") }
            XCTAssertTrue(message.hasPrefix("sending CONNECT to the egress proxy p:3128: "), message)
            XCTAssertEqual(client.state, .failed)
            pair.b.close()
        }
        loop.closeAfterRunning()
        XCTAssertEqual(loop.buffers.outstanding, 0)
    }

    /// The stream closed under the exchange by its owner while sending: the
    /// cancelled write must not be reported as a failure after a cancel.
    func testTheOwnerClosesTheStreamAfterCancelling() {
        let loop = try! EventLoop()
        do {
            let pair = MemoryStreamPair(loop: loop, capacity: 8)
            let client = ConnectClient(stream: pair.a, pool: loop.buffers, peer: "egress proxy p:3128")
            var results = 0
            client.start(request: request) { _ in results += 1 }
            client.cancel()
            pair.a.close()
            pair.b.close()
            loop.run()
            XCTAssertEqual(results, 0)
        }
        loop.closeAfterRunning()
        XCTAssertEqual(loop.buffers.outstanding, 0)
    }
}
