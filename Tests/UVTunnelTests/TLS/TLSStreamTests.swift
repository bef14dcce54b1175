import CShims
import XCTest
@testable import UVTunnel
import UVTunnelGateway

/// `TLSStream` client ⇄ server over an in-memory pair: the whole stream (not
/// just the session, as TLSSessionTests does) with the loop driving it, and
/// the transport misbehaving on purpose. Every test ends with each buffer back
/// in the pool and the loop closing cleanly.
final class TLSStreamTests: XCTestCase {
    private static let identity = try! CertificateFactory.makeSelfSigned()
    private static let stranger = try! CertificateFactory.makeSelfSigned(commonName: "someone else")

    private struct Rig {
        let loop: EventLoop
        let pair: MemoryStreamPair
        let client: TLSStream
        let server: TLSStream
        var pool: BufferPool { loop.buffers }
    }

    /// `trust`: the CA the client trusts (default: the server's own certificate).
    private func makeRig(capacity: Int, maxRead: Int, trust: String?) throws -> Rig {
        let loop = try EventLoop()
        let pair = MemoryStreamPair(loop: loop, capacity: capacity, maxRead: maxRead)
        var options = TLSClientOptions()
        options.extraCAPEM = trust ?? Self.identity.certificatePEM
        let client = try TLSStream.client(transport: pair.a, pool: loop.buffers, context: try TLSContext.client(options),
                                          serverName: "localhost", verifyName: true)
        let serverContext = try TLSContext.server(certificatePEM: Self.identity.certificatePEM, privateKeyPEM: Self.identity.privateKeyPEM)
        let server = try TLSStream.server(transport: pair.b, pool: loop.buffers, context: serverContext)
        return Rig(loop: loop, pair: pair, client: client, server: server)
    }

    /// Runs both handshakes to the end; nil: it succeeded.
    private func handshake(_ rig: Rig) -> (client: TLSError?, server: TLSError?) {
        var client: TLSError?? = .none
        var server: TLSError?? = .none
        rig.client.handshake { client = .some($0) }
        rig.server.handshake { server = .some($0) }
        rig.loop.run()
        XCTAssertTrue(client != nil, "the client's handshake never finished")
        XCTAssertTrue(server != nil, "the server's handshake never finished")
        return (client ?? nil, server ?? nil)
    }

    private func handshakeOK(_ rig: Rig, file: StaticString = #filePath, line: UInt = #line) {
        let (c, s) = handshake(rig)
        XCTAssertNil(c, "client handshake", file: file, line: line)
        XCTAssertNil(s, "server handshake", file: file, line: line)
    }

    /// Closes both streams, lets the loop finish, and checks nothing leaked.
    /// The rig is made inside `body`'s caller scope, so the sessions (which hold
    /// buffers until they go) are gone when the pool is checked.
    private func withRig(capacity: Int = 64 * 1024, maxRead: Int = .max, trust: String? = nil,
                         _ body: (Rig) throws -> Void, file: StaticString = #filePath, line: UInt = #line) throws {
        let loop: EventLoop
        do {
            let rig = try makeRig(capacity: capacity, maxRead: maxRead, trust: trust)
            loop = rig.loop
            try body(rig)
            rig.client.close()
            rig.server.close()
        }
        loop.closeAfterRunning(file: file, line: line)
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer back in the pool", file: file, line: line)
    }

    // MARK: Handshake

    func testHandshakeSucceedsWithTheRightCA() throws {
        try withRig { rig in
            handshakeOK(rig)
            XCTAssertTrue(rig.client.protocolVersion.hasPrefix("TLSv1."), rig.client.protocolVersion)
            XCTAssertFalse(rig.pair.a.isReading, "after the handshake the transport is read only when the consumer asks")
        }
    }

    func testWrongCAFailsNamingCertificateVerification() throws {
        try withRig(trust: Self.stranger.certificatePEM) { rig in
            let (c, s) = handshake(rig)
            XCTAssertTrue(c?.message.contains("certificate verify failed") == true, c?.message ?? "no error")
            XCTAssertNotNil(c?.certificateProblem, "typed as a certificate problem, for the CA hint")
            XCTAssertNotNil(s, "the server hears the client's alert")
        }
    }

    // MARK: Data

    func testSeveralMiBBothWaysAtOnceArriveByteExact() throws {
        try withRig { rig in
            handshakeOK(rig)
            let up = testPayload(3 << 20, seed: 1)
            let down = testPayload(3 << 20, seed: 2)
            let atServer = ReadCollector(rig.server, pool: rig.pool)
            let atClient = ReadCollector(rig.client, pool: rig.pool)
            atServer.start()
            atClient.start()
            let upSender = PayloadSender(rig.client, pool: rig.pool, payload: up, chunk: 50_000, shutdownAfter: true)
            let downSender = PayloadSender(rig.server, pool: rig.pool, payload: down, chunk: 7_000, shutdownAfter: true)
            upSender.start()
            downSender.start()
            rig.loop.run()
            XCTAssert(atServer.data == up, "server got \(atServer.data.count) of \(up.count) bytes, or different ones")
            XCTAssert(atClient.data == down, "client got \(atClient.data.count) of \(down.count) bytes, or different ones")
            XCTAssertEqual(atServer.end, .eof)
            XCTAssertEqual(atClient.end, .eof)
            XCTAssertNil(upSender.error)
            XCTAssertNil(downSender.error)
            XCTAssertGreaterThan(rig.pair.a.written.count, up.count, "ciphertext on the wire, records and all")
            XCTAssertNil(rig.pair.a.written.range(of: up.prefix(64)), "no plaintext on the wire")
        }
    }

    // MARK: Half-close

    /// One side says it is done (close_notify, then FIN); the other reads EOF
    /// and still sends a MiB that arrives whole, then ends its own direction.
    private func halfClose(clientFirst: Bool) throws {
        try withRig { rig in
            handshakeOK(rig)
            let (first, second) = clientFirst ? (rig.client, rig.server) : (rig.server, rig.client)
            let atSecond = ReadCollector(second, pool: rig.pool)
            let atFirst = ReadCollector(first, pool: rig.pool)
            atSecond.start()
            atFirst.start()
            let request = Data("last words".utf8)
            let ending = PayloadSender(first, pool: rig.pool, payload: request, shutdownAfter: true)
            ending.start()
            rig.loop.run()
            XCTAssertEqual(atSecond.data, request)
            XCTAssertEqual(atSecond.end, .eof, "close_notify reads as EOF")
            XCTAssertTrue(ending.shutdownDone)
            XCTAssertNil(ending.shutdownError)
            XCTAssertNil(atFirst.end, "the other direction is still open")

            let reply = testPayload(1 << 20, seed: 3)
            let replying = PayloadSender(second, pool: rig.pool, payload: reply, shutdownAfter: true)
            replying.start()
            rig.loop.run()
            XCTAssert(atFirst.data == reply, "\(atFirst.data.count) of \(reply.count) bytes after the half-close")
            XCTAssertEqual(atFirst.end, .eof)
            XCTAssertNil(replying.error)
            XCTAssertNil(replying.shutdownError)
        }
    }

    func testHalfCloseClientFirst() throws { try halfClose(clientFirst: true) }
    func testHalfCloseServerFirst() throws { try halfClose(clientFirst: false) }

    /// Through an egress proxy our end is said by close_notify alone: a FIN
    /// would end the proxy's whole tunnel, and the gateway's answer with it.
    func testThroughAProxyTheEndIsCloseNotifyWithoutFIN() throws {
        try withRig { rig in
            handshakeOK(rig)
            rig.client.endsWithCloseNotifyOnly = true
            let atServer = ReadCollector(rig.server, pool: rig.pool)
            let atClient = ReadCollector(rig.client, pool: rig.pool)
            atServer.start()
            atClient.start()
            let ending = PayloadSender(rig.client, pool: rig.pool, payload: Data("bye".utf8), shutdownAfter: true)
            ending.start()
            rig.loop.run()
            XCTAssertEqual(atServer.text, "bye")
            XCTAssertEqual(atServer.end, .eof)
            XCTAssertTrue(ending.shutdownDone)
            XCTAssertFalse(rig.pair.a.didShutdown, "no FIN on the transport")
            PayloadSender(rig.server, pool: rig.pool, payload: Data("answer".utf8), shutdownAfter: true).start()
            rig.loop.run()
            XCTAssertEqual(atClient.text, "answer")
            XCTAssertEqual(atClient.end, .eof)
        }
    }

    /// A FIN without close_notify, on a record boundary: the peer's direction
    /// ended (as HTTP/1.1 peers do), not an error.
    func testFINOnARecordBoundaryWithoutCloseNotifyIsEOF() throws {
        try withRig { rig in
            handshakeOK(rig)
            let atClient = ReadCollector(rig.client, pool: rig.pool)
            atClient.start()
            PayloadSender(rig.server, pool: rig.pool, payload: Data("whole record".utf8)).start()
            rig.loop.run()
            rig.pair.b.shutdownWrite { XCTAssertNil($0) }
            rig.loop.run()
            XCTAssertEqual(atClient.text, "whole record")
            XCTAssertEqual(atClient.end, .eof)
        }
    }

    // MARK: Backpressure

    func testAConsumerThatStopsReadingStopsTheTransportBeingRead() throws {
        try withRig { rig in
            handshakeOK(rig)
            let payload = testPayload(4 << 20)
            let atClient = ReadCollector(rig.client, pool: rig.pool)
            atClient.pauseAfter = 100_000
            atClient.start()
            let sender = PayloadSender(rig.server, pool: rig.pool, payload: payload)
            sender.start()
            rig.loop.run()
            XCTAssertFalse(rig.pair.a.isReading, "the transport is not read while the consumer does not read")
            XCTAssertLessThan(atClient.data.count, 300_000)
            XCTAssertTrue(sender.waitingForCompletion, "the sender waits for room")
            XCTAssertLessThan(sender.offset, payload.count)
            XCTAssertEqual(rig.pair.a.inbound.room, 0, "the wire is full")
            XCTAssertLessThanOrEqual(rig.pool.outstanding, 4, "bounded buffers in flight: \(rig.pool.outstanding)")

            atClient.start()
            rig.loop.run()
            XCTAssert(atClient.data == payload, "\(atClient.data.count) of \(payload.count) bytes after resuming")
            XCTAssertTrue(sender.isDone)
        }
    }

    // MARK: A transport that fails

    /// Reads everything the server sent so far (its session tickets), so a
    /// cut placed next falls inside the next record.
    private func settle(_ rig: Rig) -> ReadCollector {
        let atClient = ReadCollector(rig.client, pool: rig.pool)
        atClient.start()
        rig.loop.run()
        XCTAssertEqual(rig.pair.a.inbound.count, 0)
        return atClient
    }

    func testTransportErrorInsideARecordIsDeliveredAsThatError() throws {
        try withRig { rig in
            handshakeOK(rig)
            let atClient = settle(rig)
            rig.pair.a.cutReads(afterBytes: 100, error: MemoryStream.error(UV_ECONNRESET, "read"))
            PayloadSender(rig.server, pool: rig.pool, payload: testPayload(10_000)).start()
            rig.loop.run()
            XCTAssertEqual(atClient.data.count, 0, "no byte of an unfinished record")
            XCTAssertEqual(atClient.end, .error(MemoryStream.error(UV_ECONNRESET, "read").message))
        }
    }

    func testEOFInsideARecordIsTruncationNotEOF() throws {
        try withRig { rig in
            handshakeOK(rig)
            let atClient = settle(rig)
            rig.pair.a.cutReads(afterBytes: 100, error: nil)
            PayloadSender(rig.server, pool: rig.pool, payload: testPayload(10_000)).start()
            rig.loop.run()
            XCTAssertEqual(atClient.data.count, 0)
            guard case .error(let message) = atClient.end else {
                return XCTFail("a connection cut inside a record ended as \(String(describing: atClient.end))")
            }
            XCTAssertTrue(message.contains("truncated"), message)
        }
    }

    func testRecordsSplitAcrossManySmallReadsArriveWhole() throws {
        try withRig(maxRead: 97) { rig in
            handshakeOK(rig)
            let atClient = settle(rig)
            let payload = testPayload(200_000)
            PayloadSender(rig.server, pool: rig.pool, payload: payload, shutdownAfter: true).start()
            rig.loop.run()
            XCTAssert(atClient.data == payload)
            XCTAssertEqual(atClient.end, .eof)
            XCTAssertGreaterThan(rig.pair.a.readsDelivered, 2_000)
        }
    }

    // MARK: Close in every state

    func testCloseBeforeHandshake() throws {
        try withRig { rig in
            rig.client.close()
            var server: TLSError?
            rig.server.handshake { server = $0 }
            rig.loop.run()
            XCTAssertTrue(rig.pair.a.isClosed, "closing the stream closes its transport")
            XCTAssertTrue(server?.message.contains("closed during the TLS handshake") == true, server?.message ?? "no error")
            rig.client.startReading()
            XCTAssertFalse(rig.pair.a.isReading, "a closed stream does not read")
        }
    }

    func testClientClosedMidHandshake() throws {
        try withRig { rig in
            var client = false
            var server: TLSError?
            // The ClientHello has reached the server: the client waits for the answer.
            rig.pair.b.didDeliver = { _ in rig.client.close() }
            rig.client.handshake { _ in client = true }
            rig.server.handshake { server = $0 }
            rig.loop.run()
            XCTAssertFalse(client, "a stream closed mid-handshake does not call back")
            XCTAssertTrue(server?.message.contains("closed during the TLS handshake") == true, server?.message ?? "no error")
        }
    }

    func testServerClosedBeforeItsHandshake() throws {
        try withRig { rig in
            var client: TLSError?
            rig.client.handshake { client = $0 }
            rig.loop.run()
            rig.server.close()
            rig.loop.run()
            XCTAssertTrue(client?.message.contains("closed during the TLS handshake") == true, client?.message ?? "no error")
        }
    }

    /// The server has answered the ClientHello and waits for the client's
    /// Finished when it goes; the client sees the connection end inside the
    /// server's first flight.
    func testServerClosedMidHandshake() throws {
        try withRig { rig in
            var client: TLSError?? = .none
            var server = false
            rig.pair.a.cutReads(afterBytes: 60, error: nil)
            rig.pair.b.didDeliver = { _ in rig.server.close() }
            rig.client.handshake { client = .some($0) }
            rig.server.handshake { _ in server = true }
            rig.loop.run()
            XCTAssertFalse(server, "a stream closed mid-handshake does not call back")
            guard case .some(.some(let error)) = client else { return XCTFail("the client's handshake: \(String(describing: client))") }
            XCTAssertTrue(error.message.contains("closed during the TLS handshake"), error.message)
        }
    }

    func testCloseAfterHandshakeWithDataInFlight() throws {
        try withRig { rig in
            handshakeOK(rig)
            let atServer = ReadCollector(rig.server, pool: rig.pool)
            atServer.start()
            let atClient = ReadCollector(rig.client, pool: rig.pool)
            atClient.pauseAfter = 1
            atClient.start()
            let sender = PayloadSender(rig.server, pool: rig.pool, payload: testPayload(1 << 20))
            sender.start()
            rig.loop.run()
            XCTAssertTrue(sender.waitingForCompletion)
            rig.client.close()
            rig.client.close()  // idempotent
            rig.loop.run()
            XCTAssertEqual(sender.error?.code, UV_ECONNRESET.rawValue, "the queued write fails")
            XCTAssertEqual(atServer.end, .eof, "the peer sees the connection end")
        }
    }
}
