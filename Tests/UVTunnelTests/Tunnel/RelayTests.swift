import CShims
import XCTest
@testable import UVTunnel

/// The relay between two in-memory pairs: client ⇄ [local | relay | remote] ⇄
/// server. Bytes, half-close in both orders, backpressure, a failure on each
/// side, and a close while bytes are in flight; every buffer back in the pool.
final class RelayTests: XCTestCase {
    private struct Rig {
        let loop: EventLoop
        /// client ⇄ relay's A side
        let local: MemoryStreamPair
        /// relay's B side ⇄ server
        let remote: MemoryStreamPair
        let relay: Relay
        let ends: EndLog
        var pool: BufferPool { loop.buffers }
        var client: MemoryStream { local.a }
        var server: MemoryStream { remote.b }
    }

    final class EndLog {
        var ends: [Relay.End] = []
    }

    private func withRig(capacity: Int = 64 * 1024, _ body: (Rig) throws -> Void,
                         file: StaticString = #filePath, line: UInt = #line) rethrows {
        let loop = try! EventLoop()
        do {
            let local = MemoryStreamPair(loop: loop, capacity: capacity)
            let remote = MemoryStreamPair(loop: loop, capacity: capacity)
            let log = EndLog()
            let relay = Relay(a: local.b, b: remote.a, pool: loop.buffers, loop: loop) { log.ends.append($0) }
            let rig = Rig(loop: loop, local: local, remote: remote, relay: relay, ends: log)
            try body(rig)
            XCTAssertLessThanOrEqual(log.ends.count, 1, "the relay ends once", file: file, line: line)
            // The owner (Tunnel) closes both sides once the relay has ended.
            for end in [local.a, local.b, remote.a, remote.b] { end.close() }
        }
        loop.closeAfterRunning(file: file, line: line)
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer back in the pool", file: file, line: line)
    }

    func testBytesBothWaysThenBothEndsComplete() {
        withRig { rig in
            let up = testPayload(2 << 20, seed: 4)
            let down = testPayload(2 << 20, seed: 5)
            let atServer = ReadCollector(rig.server, pool: rig.pool)
            let atClient = ReadCollector(rig.client, pool: rig.pool)
            atServer.start()
            atClient.start()
            rig.relay.start()
            PayloadSender(rig.client, pool: rig.pool, payload: up, chunk: 30_000, shutdownAfter: true).start()
            PayloadSender(rig.server, pool: rig.pool, payload: down, chunk: 9_000, shutdownAfter: true).start()
            rig.loop.run()
            XCTAssert(atServer.data == up, "\(atServer.data.count) of \(up.count) bytes up")
            XCTAssert(atClient.data == down, "\(atClient.data.count) of \(down.count) bytes down")
            XCTAssertEqual(atServer.end, .eof)
            XCTAssertEqual(atClient.end, .eof)
            XCTAssertEqual(rig.ends.ends, [.completed])
            XCTAssertEqual(rig.relay.bytesAToB, Int64(up.count))
            XCTAssertEqual(rig.relay.bytesBToA, Int64(down.count))
        }
    }

    func testFirstBytesForAGoBeforeAnythingElse() {
        withRig { rig in
            let atClient = ReadCollector(rig.client, pool: rig.pool)
            atClient.start()
            PayloadSender(rig.server, pool: rig.pool, payload: Data(" and the rest".utf8)).start()
            rig.relay.start(firstBytesForA: rig.pool.buffers(copying: Array("came with the answer".utf8))[0])
            rig.loop.run()
            XCTAssertEqual(atClient.text, "came with the answer and the rest")
            XCTAssertEqual(rig.relay.bytesBToA, Int64(atClient.data.count))
        }
    }

    /// One direction ends (FIN → shutdown of the other side's write); the
    /// opposite one keeps flowing until its own end, then the relay completes.
    private func halfClose(clientFirst: Bool) {
        withRig { rig in
            let (first, second) = clientFirst ? (rig.client, rig.server) : (rig.server, rig.client)
            let atSecond = ReadCollector(second, pool: rig.pool)
            let atFirst = ReadCollector(first, pool: rig.pool)
            atSecond.start()
            atFirst.start()
            rig.relay.start()
            PayloadSender(first, pool: rig.pool, payload: Data("done talking".utf8), shutdownAfter: true).start()
            rig.loop.run()
            XCTAssertEqual(atSecond.text, "done talking")
            XCTAssertEqual(atSecond.end, .eof, "the end is passed on")
            XCTAssertNil(atFirst.end)
            XCTAssertEqual(rig.ends.ends, [], "half-closed is still relaying")
            let reply = testPayload(1 << 20, seed: 6)
            PayloadSender(second, pool: rig.pool, payload: reply, shutdownAfter: true).start()
            rig.loop.run()
            XCTAssert(atFirst.data == reply, "\(atFirst.data.count) of \(reply.count) bytes after the half-close")
            XCTAssertEqual(atFirst.end, .eof)
            XCTAssertEqual(rig.ends.ends, [.completed])
        }
    }

    func testHalfCloseClientToServerFirst() { halfClose(clientFirst: true) }
    func testHalfCloseServerToClientFirst() { halfClose(clientFirst: false) }

    func testASinkThatIsNotReadStopsItsSourceWithBoundedBuffers() {
        withRig { rig in
            let atServer = ReadCollector(rig.server, pool: rig.pool)  // not started: nobody reads
            rig.relay.start()
            let payload = testPayload(4 << 20, seed: 7)
            let sender = PayloadSender(rig.client, pool: rig.pool, payload: payload)
            sender.start()
            rig.loop.run()
            XCTAssertFalse(rig.local.b.isReading, "the relay stopped reading the source")
            XCTAssertTrue(sender.waitingForCompletion, "and the client waits in turn")
            XCTAssertLessThanOrEqual(rig.pool.outstanding, 2, "at most one buffer in flight per direction")
            XCTAssertLessThan(Int(rig.relay.bytesAToB), 3 * 64 * 1024 + 64 * 1024)

            atServer.start()
            rig.loop.run()
            XCTAssert(atServer.data == payload, "\(atServer.data.count) of \(payload.count) bytes once the sink reads")
            XCTAssertTrue(sender.isDone)
            XCTAssertEqual(rig.ends.ends, [])
        }
    }

    // MARK: Failures

    private func failure(_ rig: Rig) -> String? {
        switch rig.ends.ends.first {
        case .failed(_, let reason)?, .peerLeft(_, let reason)?: return reason
        default: return nil
        }
    }

    private func failedSide(_ rig: Rig) -> Relay.Side? {
        switch rig.ends.ends.first {
        case .failed(let side, _)?, .peerLeft(let side, _)?: return side
        default: return nil
        }
    }

    /// ENOTCONN, EPIPE and ECONNRESET say the far end left (`peerLeft`); any
    /// other error is a failure.
    private func saysPeerLeft(_ rig: Rig) -> Bool {
        if case .peerLeft? = rig.ends.ends.first { return true }
        return false
    }

    private func readError(onClientSide: Bool, _ error: StreamError = MemoryStream.error(UV_ECONNRESET, "read"),
                           peerLeft: Bool = true) {
        withRig { rig in
            ReadCollector(rig.client, pool: rig.pool).start()
            ReadCollector(rig.server, pool: rig.pool).start()
            rig.relay.start()
            PayloadSender(rig.client, pool: rig.pool, payload: testPayload(100_000)).start()
            rig.loop.run()
            (onClientSide ? rig.local.b : rig.remote.a).injectReadError(error)
            rig.loop.run()
            XCTAssertEqual(rig.ends.ends.count, 1)
            XCTAssertEqual(failure(rig), error.message)
            XCTAssertEqual(failedSide(rig), onClientSide ? .a : .b, "the side that failed is named")
            XCTAssertEqual(saysPeerLeft(rig), peerLeft, "\(error.message)")
        }
    }

    func testReadErrorOnTheLocalSide() { readError(onClientSide: true) }
    func testReadErrorOnTheRemoteSide() { readError(onClientSide: false) }
    func testAReadErrorThatIsNotAHangUpIsAFailure() {
        readError(onClientSide: true, MemoryStream.error(UV_ETIMEDOUT, "read"), peerLeft: false)
        readError(onClientSide: false, MemoryStream.error(UV_EIO, "read"), peerLeft: false)
    }

    private func writeError(toClientSide: Bool, _ error: StreamError = MemoryStream.error(UV_EPIPE, "write"),
                            peerLeft: Bool = true) {
        withRig { rig in
            ReadCollector(rig.client, pool: rig.pool).start()
            ReadCollector(rig.server, pool: rig.pool).start()
            rig.relay.start()
            (toClientSide ? rig.local.b : rig.remote.a).injectWriteError(error)
            // Bytes towards the failing side make the relay write there.
            PayloadSender(toClientSide ? rig.server : rig.client, pool: rig.pool, payload: testPayload(1000)).start()
            rig.loop.run()
            XCTAssertEqual(rig.ends.ends.count, 1)
            XCTAssertEqual(failure(rig), error.message)
            XCTAssertEqual(failedSide(rig), toClientSide ? .a : .b, "the side written to is named")
            XCTAssertEqual(saysPeerLeft(rig), peerLeft, "\(error.message)")
        }
    }

    func testWriteErrorTowardsTheLocalSide() { writeError(toClientSide: true) }
    func testAWriteErrorThatIsNotAHangUpIsAFailure() {
        writeError(toClientSide: true, MemoryStream.error(UV_ENOBUFS, "write"), peerLeft: false)
    }
    func testWriteErrorTowardsTheRemoteSide() { writeError(toClientSide: false) }

    /// The server goes away while the relay has a write queued to it: the write
    /// fails and the relay ends, once.
    func testPeerClosesWhileDataIsInFlight() {
        withRig(capacity: 4096) { rig in
            let atServer = ReadCollector(rig.server, pool: rig.pool)
            atServer.pauseAfter = 1
            atServer.start()
            rig.relay.start()
            PayloadSender(rig.client, pool: rig.pool, payload: testPayload(1 << 20)).start()
            rig.loop.run()
            XCTAssertGreaterThan(rig.remote.a.queuedBytes, 0, "a write is queued towards the server")
            rig.server.close()
            rig.loop.run()
            XCTAssertEqual(failure(rig), MemoryStream.error(UV_ECONNRESET, "write").message)
            XCTAssertEqual(failedSide(rig), .b)
        }
    }

    /// The owner closes both sides (a timeout, a drain) with writes queued both
    /// ways: the cancelled writes end the relay once, quietly, and return
    /// their buffers.
    func testOwnerClosesBothSidesWithDataInFlightBothWays() {
        withRig(capacity: 4096) { rig in
            let atServer = ReadCollector(rig.server, pool: rig.pool)
            let atClient = ReadCollector(rig.client, pool: rig.pool)
            atServer.pauseAfter = 1
            atClient.pauseAfter = 1
            atServer.start()
            atClient.start()
            rig.relay.start()
            PayloadSender(rig.client, pool: rig.pool, payload: testPayload(1 << 20)).start()
            PayloadSender(rig.server, pool: rig.pool, payload: testPayload(1 << 20)).start()
            rig.loop.run()
            XCTAssertGreaterThan(rig.remote.a.queuedBytes, 0)
            XCTAssertGreaterThan(rig.local.b.queuedBytes, 0)
            rig.local.b.close()
            rig.remote.a.close()
            rig.loop.run()
            XCTAssertEqual(rig.ends.ends.count, 1)
            XCTAssertTrue(failure(rig)?.contains("canceled") == true, "\(rig.ends.ends)")
        }
    }
}
