import CShims
import XCTest
@testable import UVTunnel

/// HTTP2Session and HTTP2Stream against an nghttp2 server in this process,
/// over an in-memory transport: the CONNECT request, DATA and END_STREAM
/// both ways, resets each way, per-stream windows, a lost connection.
final class HTTP2SessionTests: XCTestCase {
    private var loop: EventLoop!
    /// a: the session's transport; b: the server's end. A small capacity,
    /// so the session's writes do wait for the server to read.
    private var pair: MemoryStreamPair!
    private var server: H2TestServer!
    private var session: HTTP2Session!

    override func setUpWithError() throws {
        loop = try EventLoop()
        pair = MemoryStreamPair(loop: loop, capacity: 32 * 1024)
        server = H2TestServer(end: pair.b, loop: loop)
        session = try HTTP2Session(transport: pair.a, loop: loop, settings: HTTP2Settings())
        session.start()
        XCTAssertFalse(session.canOpenStream, "no stream before the server's SETTINGS")
        spin("the server's SETTINGS") { session.isReady }
    }

    override func tearDown() {
        session?.close()
        session = nil
        server = nil
        pair?.b.close()
        pair = nil
        loop?.assertEverythingReturnedAndClose()
        loop = nil
    }

    /// Runs the loop until `condition` holds (fails after 20 s: the debug
    /// build moves a few MB/s through the in-memory pair on a busy machine).
    private func spin(_ what: String, file: StaticString = #filePath, line: UInt = #line, until condition: () -> Bool) {
        loop.spin(what, seconds: 20, file: file, line: line, until: condition)
    }

    /// A stream whose CONNECT the server answered; its reads are collected.
    private final class Reader {
        var bytes: [UInt8] = []
        var eof = false
        var error: String?
    }

    private func openStream(token: String? = "the.token") -> (HTTP2Stream, Reader, Int32) {
        var status: Int?
        guard let stream = session.openStream(authority: "db.internal:5432", token: token, userAgent: "uvtunnel/test",
                                              onResponse: { result in status = try? result.get() }) else {
            XCTFail("openStream refused")
            fatalError()
        }
        spin("the answer") { status != nil }
        XCTAssertEqual(status, 200)
        let reader = Reader()
        stream.onRead = { [loop] event in
            switch event {
            case .data(let buffer):
                reader.bytes += buffer.bytes
                loop!.buffers.give(buffer)
            case .eof: reader.eof = true
            case .error(let error): reader.error = error.message
            }
        }
        return (stream, reader, stream.id)
    }

    private func buffers(_ bytes: [UInt8]) -> [Buffer] { loop.buffers.buffers(copying: bytes) }

    func testConnectRequestCarriesMethodAuthorityTokenAndUserAgentOnly() {
        let (stream, _, id) = openStream()
        let headers = server.streams[id]!.headers
        XCTAssertEqual(headers.map(\.0), [":method", ":authority", "authorization", "user-agent"])
        XCTAssertEqual(headers.map(\.1), ["CONNECT", "db.internal:5432", "Pomerium the.token", "uvtunnel/test"])
        XCTAssertFalse(server.streams[id]!.ended, "a CONNECT stream stays open for DATA")
        stream.close()

        let (anonymous, _, second) = openStream(token: nil)
        XCTAssertEqual(server.streams[second]!.headers.map(\.0), [":method", ":authority", "user-agent"])
        anonymous.close()
    }

    func testDataBothWaysThenEachSideEndsItsDirection() {
        let (stream, reader, id) = openStream()
        stream.startReading()
        let up = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for chunk in stride(from: 0, to: up.count, by: 50_000) {
            // Past the outbound limit writeNow says "later"; the bytes are queued either way.
            _ = stream.writeNow(buffers(Array(up[chunk..<min(chunk + 50_000, up.count)])), otherwise: { XCTAssertNil($0) })
        }
        spin("the upload") { server.streams[id]!.received.count == up.count }
        XCTAssertEqual(server.streams[id]!.received, up)

        var shutDown = false
        stream.shutdownWrite { error in
            XCTAssertNil(error)
            shutDown = true
        }
        spin("END_STREAM at the server") { server.streams[id]!.ended && shutDown }

        let down = (0..<2_500_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        server.send(down, on: id, end: true)
        spin("the download and EOF") { reader.eof }
        XCTAssertEqual(reader.bytes.count, down.count)
        XCTAssert(reader.bytes == down, "bytes differ")
        XCTAssertNil(reader.error)
        spin("the stream to close cleanly") { server.streams[id]!.closed }
        XCTAssertNil(server.streams[id]!.resetCode, "a stream both sides ended is not reset")
        XCTAssertEqual(session.openStreamCount, 0)
        stream.close()
    }

    func testAResetFromTheServerIsAReadErrorNamingItsCode() {
        let (stream, reader, id) = openStream()
        stream.startReading()
        server.send(Array("partial".utf8), on: id)
        server.reset(id, code: 0x7)  // REFUSED_STREAM
        spin("the error") { reader.error != nil }
        XCTAssertEqual(reader.bytes, Array("partial".utf8), "bytes before the reset are delivered first")
        XCTAssertEqual(reader.error, "the gateway reset the stream: REFUSED_STREAM (0x7)")
        var writeError: StreamError?
        XCTAssertFalse(stream.writeNow(buffers([1, 2, 3]), otherwise: { writeError = $0 }))
        XCTAssertNotNil(writeError)
        stream.close()
    }

    func testCloseResetsTheStreamWithCancel() {
        let (stream, _, id) = openStream()
        stream.close()
        spin("RST_STREAM at the server") { server.streams[id]!.resetCode != nil }
        XCTAssertEqual(server.streams[id]!.resetCode, 0x8)  // CANCEL
        spin("the slot to free") { session.openStreamCount == 0 }
    }

    func testAnAnswerOtherThan200IsReportedAsItsStatus() {
        server.status = 403
        var result: Result<Int, HTTP2Failure>?
        let stream = session.openStream(authority: "db.internal:5432", token: nil, userAgent: "uvtunnel/test") { result = $0 }
        spin("the answer") { result != nil }
        XCTAssertEqual(try? result?.get(), 403)
        stream?.close()
    }

    /// A reader that stops holds its own stream's window closed; the server
    /// can still send on every other stream of the connection.
    func testAStoppedReaderClosesItsOwnWindowOnly() {
        let (stalled, stalledReader, stalledID) = openStream()
        let (flowing, flowingReader, flowingID) = openStream()
        flowing.startReading()
        // The stalled stream's reader never started: 3 MiB is more than its window.
        let flood = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0) }
        server.send(flood, on: stalledID)
        spin("the stalled stream's window to close") { server.sendWindow(stalledID) == 0 }
        let other = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        server.send(other, on: flowingID, end: true)
        spin("the other stream's bytes") { flowingReader.eof }
        XCTAssert(flowingReader.bytes == other, "bytes differ")
        XCTAssertEqual(server.sendWindow(stalledID), 0, "nothing reopened the stalled window")
        XCTAssertTrue(stalledReader.bytes.isEmpty)
        // Its reader starts: everything arrives, the window reopening as it is taken.
        stalled.startReading()
        spin("the stalled stream's bytes") { stalledReader.bytes.count == flood.count }
        XCTAssert(stalledReader.bytes == flood, "bytes differ")
        stalled.close()
        flowing.close()
    }

    func testALostConnectionFailsEveryStreamOnce() {
        let (first, firstReader, _) = openStream()
        let (second, secondReader, _) = openStream()
        first.startReading()
        second.startReading()
        var closedWith: String??
        session.onClosed = { closedWith = .some($0) }
        pair.b.shutdownWrite { _ in }
        spin("both streams to fail") { firstReader.error != nil && secondReader.error != nil }
        XCTAssertEqual(firstReader.error, "the HTTP/2 connection to the gateway was lost: the gateway closed the connection")
        XCTAssertEqual(closedWith, .some("the gateway closed the connection"))
        XCTAssertTrue(pair.a.isClosed)
        XCTAssertFalse(session.canOpenStream)
        first.close()
        second.close()
    }

    /// A server that never opens its window: the stream takes the initial
    /// window's worth, then queues only up to its limit and pauses the writer.
    func testAStreamResetJustBeforeAFatalSessionErrorStillHearsItsReset() {
        let (stream, reader, id) = openStream()
        stream.startReading()
        // One read: RST_STREAM(CANCEL) on the stream, then more PINGs than
        // nghttp2 queues ACKs for (NGHTTP2_ERR_FLOODED ends the session).
        var bytes = frame(type: 3, stream: id, payload: [0, 0, 0, 8])
        for _ in 0..<1100 { bytes += frame(type: 6, stream: 0, payload: Array(repeating: 0, count: 8)) }
        pair.b.write(buffers(bytes)) { _ in }
        spin("the session to fail") { session.isClosed }
        spin("the reset to reach the stream's reader") { reader.error != nil }
        XCTAssertEqual(reader.error, "the gateway reset the stream: CANCEL (0x8)")
        stream.close()
    }

    func testATransportThatRefusesTheFirstWriteAtOnceClosesTheSessionForItsOwnerToHear() throws {
        let refusing = RefusingTransport(loop: loop)
        let early = try HTTP2Session(transport: refusing, loop: loop, settings: HTTP2Settings())
        var reason: String?
        early.onClosed = { reason = $0 }
        early.start()
        spin("the owner to hear") { reason != nil }
        XCTAssertEqual(reason, "encrypting failed")
        XCTAssertTrue(early.isClosed)
        XCTAssertTrue(refusing.isClosed, "the transport is closed with the session")
    }

    func testADroppedSessionClosesItsTransport() throws {
        let pair = MemoryStreamPair(loop: loop)
        var dropped: HTTP2Session? = try HTTP2Session(transport: pair.a, loop: loop, settings: HTTP2Settings())
        dropped!.start()
        var peerEnded = false
        pair.b.onRead = { [loop] event in
            if case .data(let buffer) = event { loop!.buffers.give(buffer) } else { peerEnded = true }
        }
        pair.b.startReading()
        spin("the preface at the peer") { pair.b.bytesDelivered > 0 }
        dropped = nil  // no close()
        spin("the transport to close") { peerEnded }
        pair.b.close()
    }

    func testClosingAStreamCancelsItsPendingWriteAndShutdownOnTheNextTurn() {
        server.holdWindows = true
        let (stream, _, _) = openStream()
        var writeError: StreamError?
        var shutdownError: StreamError?
        var paused = false
        while !paused {
            paused = !stream.writeNow(buffers(Array(repeating: 7, count: 60_000)), otherwise: { writeError = $0 })
        }
        stream.shutdownWrite { shutdownError = $0 }
        stream.close()
        XCTAssertNil(writeError, "not from inside close()")
        XCTAssertNil(shutdownError, "not from inside close()")
        spin("both completions") { writeError != nil && shutdownError != nil }
        XCTAssertEqual(writeError?.code, UV_ECANCELED.rawValue)
        XCTAssertEqual(shutdownError?.code, UV_ECANCELED.rawValue)
    }

    /// Starts over with a session of these settings (and a fresh server).
    private func restart(with settings: HTTP2Settings) throws {
        session.close()
        pair.b.close()
        pair = MemoryStreamPair(loop: loop, capacity: 32 * 1024)
        server = H2TestServer(end: pair.b, loop: loop)
        session = try HTTP2Session(transport: pair.a, loop: loop, settings: settings)
        session.start()
        spin("the server's SETTINGS") { session.isReady }
    }

    /// Stopped readers on many streams: past the connection's budget the
    /// connection window stays shut, so what the connection buffers is
    /// bounded by budget + window, not streams x stream window. Once the
    /// readers take their bytes everything arrives.
    func testStoppedReadersOnManyStreamsBufferAtMostTheBudgetPlusTheConnectionWindow() throws {
        var settings = HTTP2Settings()
        settings.streamWindow = 256 * 1024
        settings.connectionWindow = 256 * 1024
        settings.inboundBudget = 512 * 1024
        try restart(with: settings)
        let opened = (0..<6).map { _ in openStream() }
        // Each stream's window full: 1.5 MiB in all, twice what budget + window let in.
        let flood = (0..<(256 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        for (_, _, id) in opened { server.send(flood, on: id) }
        spin("the connection window to shut") { server.connectionSendWindow == 0 && session.bufferedInbound > settings.inboundBudget }
        for _ in 0..<20 { _ = loop.runOnce(block: false) }
        XCTAssertEqual(server.connectionSendWindow, 0, "nothing reopened it while nobody read")
        XCTAssertLessThanOrEqual(session.bufferedInbound, settings.inboundBudget + Int(settings.connectionWindow))
        XCTAssertLessThan(session.bufferedInbound, opened.count * Int(settings.streamWindow), "under streams x window")
        for (stream, _, _) in opened { stream.startReading() }
        spin("every byte on every stream") { opened.allSatisfy { $0.1.bytes.count == flood.count } }
        XCTAssert(opened.allSatisfy { $0.1.bytes == flood }, "bytes differ")
        XCTAssertEqual(session.bufferedInbound, 0)
        opened.forEach { $0.0.close() }
    }

    /// A stream closed with unread bytes gives their share of the budget back.
    func testAStreamClosedUnreadReleasesItsBufferedBytes() throws {
        let (stream, _, id) = openStream()
        server.send(Array(repeating: 9, count: 100_000), on: id)
        spin("the bytes buffered") { session.bufferedInbound == 100_000 }
        stream.close()
        XCTAssertEqual(session.bufferedInbound, 0)
    }

    /// close() sends GOAWAY(NO_ERROR) and closes the transport only after it
    /// left, even with a write still in flight (the wire holds 32 KiB).
    func testCloseSendsGoAwayEvenBehindAWriteInFlight() {
        let (stream, _, _) = openStream()
        _ = stream.writeNow(buffers(Array(repeating: 3, count: 60_000)), otherwise: { _ in })
        _ = loop.runOnce(block: false)
        session.close()
        spin("the GOAWAY at the server") { server.goAwayCode != nil }
        XCTAssertEqual(server.goAwayCode, 0, "NO_ERROR")
        spin("the transport to close") { pair.a.isClosed }
        stream.close()
    }

    /// A GOAWAY carrying an error code ends the connection with that code as
    /// its reason, not as a clean close.
    func testAGoAwayWithAnErrorCodeIsTheReasonTheConnectionEnded() {
        var reason: String??
        session.onClosed = { reason = .some($0) }
        server.goAway(lastStreamID: 0, code: 0x2)  // INTERNAL_ERROR
        spin("the session to end") { reason != nil }
        XCTAssertEqual(reason, .some("the gateway sent GOAWAY with INTERNAL_ERROR (0x2)"))
        XCTAssertTrue(session.endedWithErrorCode)
    }

    /// A GOAWAY(NO_ERROR) with no stream open is a clean end.
    func testAGoAwayWithNoErrorAndNoStreamsEndsCleanly() {
        var reason: String??
        session.onClosed = { reason = .some($0) }
        server.goAway(lastStreamID: 0)
        spin("the session to end") { reason != nil }
        XCTAssertEqual(reason, .some(nil))
    }

    /// One raw HTTP/2 frame, as a hostile server would write it.
    private func frame(type: UInt8, flags: UInt8 = 0, stream: Int32, payload: [UInt8]) -> [UInt8] {
        let length = payload.count, id = UInt32(stream)
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags,
                UInt8(id >> 24), UInt8(id >> 16 & 0xff), UInt8(id >> 8 & 0xff), UInt8(id & 0xff)] + payload
    }

    // MARK: Hostile servers

    /// Every stream reset at once, then a storm of RST_STREAM on streams
    /// already closed: each tunnel hears its reset once, the connection lives on.
    func testARstStreamStormFailsEachStreamOnceAndTheConnectionLivesOn() {
        let opened = (0..<40).map { _ in openStream() }
        opened.forEach { $0.0.startReading() }
        var storm: [UInt8] = []
        for (_, _, id) in opened { storm += frame(type: 3, stream: id, payload: [0, 0, 0, 8]) }
        for _ in 0..<50 { for (_, _, id) in opened { storm += frame(type: 3, stream: id, payload: [0, 0, 0, 8]) } }
        pair.b.write(buffers(storm)) { _ in }
        spin("every stream's reset") { opened.allSatisfy { $0.1.error != nil } }
        XCTAssert(opened.allSatisfy { $0.1.error == "the gateway reset the stream: CANCEL (0x8)" })
        XCTAssertEqual(session.openStreamCount, 0)
        XCTAssertFalse(session.isClosed, "resets of closed streams are not a connection error")
        let (next, reader, id) = openStream()
        next.startReading()
        server.send(Array("still here".utf8), on: id)
        spin("a new stream's bytes") { reader.bytes == Array("still here".utf8) }
        opened.forEach { $0.0.close() }
        next.close()
    }

    /// Bytes that are not HTTP/2 after the server's SETTINGS: the connection
    /// ends with a protocol error as its reason, and the open stream hears it.
    func testGarbageAfterThePrefaceEndsTheConnectionWithAProtocolError() {
        let (stream, reader, _) = openStream()
        stream.startReading()
        var reason: String??
        session.onClosed = { reason = .some($0) }
        pair.b.write(buffers(Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8))) { _ in }
        spin("the connection to end") { reason != nil }
        let why = try? XCTUnwrap(reason ?? nil)
        XCTAssert(why?.contains("protocol error") == true, "\(String(describing: reason))")
        spin("the stream to hear") { reader.error != nil }
        XCTAssert(reader.error?.hasPrefix("the HTTP/2 connection to the gateway was lost: ") == true, "\(String(describing: reader.error))")
        stream.close()
    }

    /// A response header block that never ends (HEADERS, then CONTINUATION
    /// frames of 16 KiB each): nghttp2 gives up on it, the connection fails
    /// with a reason, nothing is buffered without bound, the stream hears.
    func testAnOversizedHeaderBlockFailsTheConnectionNotTheProcess() {
        var answer: Result<Int, HTTP2Failure>?
        guard let stream = session.openStream(authority: "db.internal:5432", token: nil, userAgent: "uvtunnel/test",
                                              onResponse: { answer = $0 }) else { return XCTFail("refused") }
        server.answer = { _ in 0 }  // the real server stays silent; the hostile bytes answer
        spin("the request at the server") { !server.order.isEmpty }
        let id = stream.id
        // A literal header field without indexing, name "x", value 16,000 bytes.
        let field: [UInt8] = [0x00, 0x01, 0x78, 0x7f, 0x81, 0x7c] + Array(repeating: 0x76, count: 16_000)
        var bytes = frame(type: 1, stream: id, payload: [0x88] + field)
        for _ in 0..<200 { bytes += frame(type: 9, stream: id, payload: field) }
        bytes += frame(type: 9, flags: 4, stream: id, payload: [])
        pair.b.write(buffers(bytes)) { _ in }
        spin("the stream to fail") { answer != nil || session.isClosed }
        spin("the answer") { answer != nil }
        if case .success(let status)? = answer { XCTFail("answered \(status) through an oversized header block") }
        XCTAssertLessThan(loop.buffers.outstanding, 64, "no buffering of the whole block")
        stream.close()
    }

    /// SETTINGS_INITIAL_WINDOW_SIZE 0 from the server, for good: writers
    /// pause within their bound and the session still takes reads.
    func testAServerThatAllowsNoWindowAtAllPausesWritersAndStillReads() {
        server.setInitialWindow(0)
        for _ in 0..<5 { _ = loop.runOnce(block: false) }
        let (stream, reader, id) = openStream()
        stream.startReading()
        var paused = false
        var written = 0
        while !paused && written < 2 << 20 {
            written += 60_000
            paused = !stream.writeNow(buffers(Array(repeating: 1, count: 60_000)), otherwise: { _ in })
        }
        XCTAssertTrue(paused)
        XCTAssertLessThanOrEqual(written, HTTP2Settings().outboundLimit + 60_000)
        server.send(Array("down".utf8), on: id)
        spin("the server's bytes") { reader.bytes == Array("down".utf8) }
        XCTAssertEqual(server.streams[id]!.received.count, 0, "nothing sent into a zero window")
        stream.close()
    }

    func testAServerThatNeverOpensItsWindowPausesTheWriterWithBoundedMemory() {
        server.holdWindows = true
        let (stream, _, id) = openStream()
        var paused = false
        var written = 0
        var resumed = 0
        while !paused && written < 4 << 20 {
            let chunk = [UInt8](repeating: 0x5a, count: 60_000)
            written += chunk.count
            paused = !stream.writeNow(buffers(chunk), otherwise: { error in
                XCTAssertNil(error)
                resumed += 1
            })
            _ = loop.runOnce(block: false)
        }
        XCTAssertTrue(paused, "the writer was never paused")
        spin("the initial window at the server") { server.streams[id]!.received.count == 65_535 }
        for _ in 0..<20 { _ = loop.runOnce(block: false) }
        XCTAssertEqual(server.streams[id]!.received.count, 65_535, "nothing past the window")
        XCTAssertEqual(resumed, 0, "no room until the server reads")
        XCTAssertLessThanOrEqual(written - 65_535, HTTP2Settings().outboundLimit + 60_000, "queued at most the limit and one write")
        // The server reads: the window opens, the queue drains, the writer may go on.
        server.consumeAll(server.streams[id]!)
        spin("the writer to resume") { resumed == 1 }
        spin("every byte at the server") {
            server.consumeAll(server.streams[id]!)
            return server.streams[id]!.received.count == written
        }
        stream.close()
    }

    func testSmallWritesShareQueuedBuffersSoTheQueueHoldsFewPoolBuffers() {
        server.holdWindows = true
        let (stream, _, id) = openStream()
        // Fill the server's window first, so later writes only queue.
        XCTAssertTrue(stream.writeNow(buffers(Array(repeating: 1, count: 65_535)), otherwise: { _ in }))
        spin("the initial window at the server") { server.streams[id]!.received.count == 65_535 }
        let before = loop.buffers.outstanding
        for _ in 0..<1_000 {
            let one = loop.buffers.take()
            one.append([0x5a])  // a relay read of one byte, in a whole pool buffer
            XCTAssertTrue(stream.writeNow([one], otherwise: { _ in }))
        }
        XCTAssertLessThanOrEqual(loop.buffers.outstanding - before, 1, "1000 queued bytes hold one pool buffer, not 1000")
        server.consumeAll(server.streams[id]!)
        spin("every byte at the server") {
            server.consumeAll(server.streams[id]!)
            return server.streams[id]!.received.count == 65_535 + 1_000
        }
        XCTAssertEqual(Array(server.streams[id]!.received.suffix(1_000)), Array(repeating: 0x5a, count: 1_000))
        stream.close()
    }

    /// The gateway ends its side and resets with NO_ERROR (it wants nothing
    /// more, as nghttpx does when its backend closes): our later shutdown
    /// completes cleanly, at once, with no other traffic to wake it.
    func testAfterTheGatewayEndedAndResetWithNoErrorOurShutdownIsClean() {
        let (stream, reader, id) = openStream()
        stream.startReading()
        server.send(Array("bye".utf8), on: id, end: true)
        spin("EOF") { reader.eof }
        server.reset(id, code: 0)
        spin("the stream to close") { session.openStreamCount == 0 }
        var answered = false
        var error: StreamError?
        stream.shutdownWrite {
            answered = true
            error = $0
        }
        XCTAssertTrue(answered, "answered at once")
        XCTAssertNil(error)
        XCTAssertNil(reader.error)
        stream.close()
    }

    /// What many tunnels write in one loop turn leaves in one transport write.
    /// What a stream holds for its reader leaves together: a relay's
    /// `takeReceived` moves the buffers queued behind the one delivered (up
    /// to its limit), so they go out in one local write, and their window
    /// reopens as if each had been delivered on its own.
    func testTheBuffersQueuedForAReaderAreTakenWithTheFirstAndTheirWindowReopens() {
        let (stream, _, id) = openStream()
        var gathers: [[UInt8]] = []
        var limit = 1 << 20
        stream.onRead = { [loop] event in
            guard case .data(let first) = event else { return }
            var taken = [first]
            stream.takeReceived(into: &taken, limit: limit)
            gathers.append(taken.flatMap { $0.bytes })
            taken.forEach { loop!.buffers.give($0) }
        }
        // The reader has not started: 200 KB wait in several pool buffers.
        let first = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        server.send(first, on: id)
        spin("the first bytes to wait at the stream") { session.bufferedInbound == first.count }
        stream.startReading()
        spin("the reader to take them") { gathers.joined().count == first.count }
        XCTAssertEqual(gathers.count, 1, "four buffers' bytes in one take: \(gathers.map(\.count))")
        XCTAssert(Array(gathers.joined()) == first, "bytes differ")
        XCTAssertEqual(session.bufferedInbound, 0)
        // With a limit of two buffers, takes are at most two buffers; 3 MiB
        // (three windows) arrive only if every take reopened the window it held.
        limit = 2 * loop.buffers.bufferSize
        gathers.removeAll()
        let more = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 5) }
        server.send(more, on: id)
        spin("three windows' worth") { gathers.joined().count == more.count }
        XCTAssert(Array(gathers.joined()) == more, "bytes differ")
        XCTAssert(gathers.allSatisfy { $0.count <= limit }, "no take past its limit")
        stream.close()
    }

    func testWritesOfManyStreamsInOneTurnLeaveInOneTransportWrite() {
        let opened = (0..<20).map { _ in openStream() }
        spin("the streams to settle") { opened.allSatisfy { server.streams[$0.2] != nil } }
        for _ in 0..<5 { _ = loop.runOnce(block: false) }
        let before = (written: pair.a.written.count, reads: pair.b.readsDelivered)
        for (i, (stream, _, _)) in opened.enumerated() {
            XCTAssertTrue(stream.writeNow(buffers(Array("message \(i)".utf8)), otherwise: { _ in XCTFail("paused") }))
        }
        XCTAssertEqual(pair.a.written.count, before.written, "nothing is written inside a tunnel's own call")
        spin("every message at the server") {
            opened.enumerated().allSatisfy { i, item in server.streams[item.2]!.received == Array("message \(i)".utf8) }
        }
        XCTAssertEqual(pair.b.readsDelivered - before.reads, 1, "twenty tunnels' messages arrive as one read")
        opened.forEach { $0.0.close() }
    }
}

/// A transport whose every write fails inside the call (as TLSStream.writeNow
/// does when encrypting fails): the completion runs before writeNow returns.
private final class RefusingTransport: ByteStream {
    var onRead: ((ReadEvent) -> Void)?
    private let loop: EventLoop
    private(set) var isClosed = false

    init(loop: EventLoop) { self.loop = loop }

    func startReading() {}
    func stopReading() {}

    func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        _ = writeNow(buffers, otherwise: completion)
    }

    func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        buffers.forEach { loop.buffers.give($0) }
        completion(StreamError(message: "encrypting failed"))
        return false
    }

    func shutdownWrite(completion: @escaping (StreamError?) -> Void) { completion(nil) }

    func close() {
        isClosed = true
        onRead = nil
    }
}
