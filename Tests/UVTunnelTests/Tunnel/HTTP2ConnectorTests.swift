import Foundation
import Logging
import XCTest
@testable import UVTunnel

/// HTTP2Connector against an HTTP/2 gateway on this loop (TLS, ALPN h2, an
/// nghttp2 server per connection): streams per connection, a new connection
/// when all are full, the idle close, a lost connection, and a 401 on a
/// stream going through the Tunnel's sign-in and retry.
final class HTTP2ConnectorTests: H2GatewayLoopTestCase {
    private var logger: Logger { .quiet }

    private func options(connectTimeoutMilliseconds: UInt64 = 15_000) throws -> TunnelOptions {
        try gatewayOptions(to: "db.internal:5432", connectTimeoutMilliseconds: connectTimeoutMilliseconds)
    }

    private func connector(maxStreams: Int = 100, maxConnections: Int = 64, idleMilliseconds: UInt64 = 30_000,
                           pingMilliseconds: UInt64 = 15_000, connectTimeoutMilliseconds: UInt64 = 15_000,
                           earlyData: Bool = true) throws -> HTTP2Connector {
        var client = gatewayTLSOptions()
        client.alpnProtocols = ["h2", "http/1.1"]
        var settings = HTTP2Settings()
        settings.maxStreams = maxStreams
        settings.earlyData = earlyData
        settings.maxConnections = maxConnections
        settings.pingIntervalMilliseconds = pingMilliseconds
        return HTTP2Connector(loop: loop, options: try options(connectTimeoutMilliseconds: connectTimeoutMilliseconds), tls: try TLSContext.client(client), settings: settings,
                              idleMilliseconds: idleMilliseconds, logger: logger)
    }

    func testStreamsShareAConnectionUpToTheLimitThenAnotherOpens() throws {
        let connector = try connector(maxStreams: 2)
        var results: [Result<ByteStream, TunnelFailure>] = []
        let attempts = (0..<3).map { _ in connector.open(destination: "db.internal:5432", token: "t") { results.append($0) } }
        spin("three answers") { results.count == 3 }
        let streams = results.compactMap { try? $0.get() }
        XCTAssertEqual(streams.count, 3, "\(results)")
        XCTAssertEqual(connector.connectionCount, 2)
        XCTAssertEqual(gateway.connections.map { $0.server.order.count }.sorted(), [1, 2])
        XCTAssert(attempts.allSatisfy { $0.stage == .finished })
        streams.forEach { $0.close() }
        connector.shutdown()
        spin("the gateway to see both connections close") { gateway.closedCount == 2 }
    }

    func testNeverMoreStreamsThanTheServersSettingsAllow() throws {
        gateway.close()
        gateway = try H2TLSGateway(loop: loop, maxConcurrentStreams: 1)
        let connector = try connector()
        var results: [Result<ByteStream, TunnelFailure>] = []
        let attempts = (0..<3).map { _ in connector.open(destination: "db.internal:5432", token: nil) { results.append($0) } }
        spin("three answers") { results.count == 3 }
        let streams = results.compactMap { try? $0.get() }
        XCTAssertEqual(streams.count, 3, "\(results)")
        XCTAssertEqual(gateway.connections.map { $0.server.order.count }, [1, 1, 1], "one stream per connection, as the server said")
        XCTAssert(attempts.allSatisfy { $0.stage == .finished })
        streams.forEach { $0.close() }
        connector.shutdown()
    }

    func testAConnectionWhoseSettingsAllowNoStreamsFailsItsTunnelsInsteadOfDiallingAgain() throws {
        gateway.close()
        gateway = try H2TLSGateway(loop: loop, maxConcurrentStreams: 0)
        let connector = try connector()
        var results: [Result<ByteStream, TunnelFailure>] = []
        let attempts = (0..<3).map { _ in connector.open(destination: "db.internal:5432", token: nil) { results.append($0) } }
        spin("three answers") { results.count == 3 }
        for result in results {
            guard case .failure(let failure) = result else { return XCTFail("\(result)") }
            XCTAssertEqual(failure, .http2(.takesNoStreams("its SETTINGS allow 0 concurrent streams")))
        }
        XCTAssertEqual(gateway.acceptedCount, 1, "one connection dialled, not one after another")
        spin("the useless connection to close") { connector.connectionCount == 0 && gateway.closedCount == 1 }
        XCTAssert(attempts.allSatisfy { $0.stage == .finished })
        connector.shutdown()
    }

    func testSettingsThenGoAwayAtOnceFailsTheTunnelsWithoutEndlessDialling() throws {
        gateway.goAwayAtOnce = true
        let connector = try connector()
        var results: [Result<ByteStream, TunnelFailure>] = []
        let attempts = (0..<3).map { _ in connector.open(destination: "db.internal:5432", token: nil) { results.append($0) } }
        spin("three answers") { results.count == 3 }
        XCTAssertEqual(results.filter { (try? $0.get()) != nil }.count, 0, "\(results)")
        // SETTINGS and GOAWAY in one read fail at once; apart, the refused
        // streams go again once, on one more connection.
        XCTAssertLessThanOrEqual(gateway.acceptedCount, 2)
        spin("the connections to close") { connector.connectionCount == 0 }
        XCTAssert(attempts.allSatisfy { $0.stage == .finished })
        connector.shutdown()
    }

    func testATunnelThatWouldNeedOneConnectionTooManyFailsWithTheLimit() throws {
        gateway.answer = { _ in 0 }  // streams stay open, waiting for an answer
        let connector = try connector(maxStreams: 1, maxConnections: 2)
        var results: [Result<ByteStream, TunnelFailure>] = []
        let attempts = (0..<3).map { _ in connector.open(destination: "db.internal:5432", token: nil) { results.append($0) } }
        spin("the third tunnel to fail") { results.count == 1 }
        XCTAssertEqual(results.first.flatMap { if case .failure(let f) = $0 { f } else { nil } }, .http2(.connectionLimit(2)))
        XCTAssertEqual(TunnelFailure.http2(.connectionLimit(2)).metricClass, "connect")
        spin("two connections") { gateway.connections.count == 2 }
        attempts.forEach { $0.cancel() }
        connector.shutdown()
        spin("both closed") { gateway.closedCount == 2 }
    }

    func testADroppedConnectorClosesItsConnectionsAndEveryHandle() throws {
        var connector: HTTP2Connector? = try connector()
        var result: Result<ByteStream, TunnelFailure>?
        let attempt = connector!.open(destination: "db.internal:5432", token: nil) { result = $0 }
        spin("the answer") { result != nil }
        let stream = try XCTUnwrap(try? result?.get())
        XCTAssertEqual(attempt.stage, .finished)
        stream.close()
        connector = nil  // no shutdown(): tearDown checks that no handle (ping timer, socket) is left
        spin("the gateway to see the connection close") { gateway.closedCount == 1 }
    }

    func testAConnectionWhoseSettingsNeverCameClosesWhenItsLastTunnelGivesUp() throws {
        gateway.muted = true  // TLS comes up, then not even SETTINGS
        // Long enough for TLS to come up on a busy machine: the connection must exist to be closed.
        let connector = try connector(connectTimeoutMilliseconds: 1_500)
        var result: Result<ByteStream, TunnelFailure>?
        let first = connector.open(destination: "db.internal:5432", token: nil) { result = $0 }
        spin("the first tunnel to time out") { result != nil }
        guard case .failure(.timedOut) = result else { return XCTFail("\(String(describing: result))") }
        spin("the connection to close") { gateway.closedCount == 1 }
        gateway.muted = false
        result = nil
        let second = connector.open(destination: "db.internal:5432", token: nil) { result = $0 }
        spin("the second tunnel") { result != nil }
        XCTAssertNotNil(try? result?.get(), "a fresh connection, not the stuck one: \(String(describing: result))")
        XCTAssertEqual(gateway.acceptedCount, 2)
        XCTAssertEqual([first.stage, second.stage], [.finished, .finished])
        (try? result?.get())?.close()
        connector.shutdown()
    }

    func testAConnectionWithoutStreamsClosesAfterItsIdleTime() throws {
        let connector = try connector(idleMilliseconds: 50)
        var result: Result<ByteStream, TunnelFailure>?
        var attempt = connector.open(destination: "db.internal:5432", token: nil) { result = $0 }
        spin("the answer") { result != nil }
        let stream = try XCTUnwrap(try? result?.get())
        XCTAssertEqual(connector.connectionCount, 1)
        stream.close()
        spin("the idle close") { connector.connectionCount == 0 && gateway.closedCount == 1 }
        // The next tunnel gets a fresh connection.
        result = nil
        attempt = connector.open(destination: "db.internal:5432", token: nil) { result = $0 }
        spin("the second answer") { result != nil }
        let second = try XCTUnwrap(try? result?.get())
        XCTAssertEqual(gateway.connections.count, 1)
        XCTAssertEqual(attempt.stage, .finished)
        second.close()
        connector.shutdown()
    }

    func testALostConnectionFailsEachWaitingTunnelOnce() throws {
        gateway.answer = { _ in 0 }  // never answers
        let connector = try connector()
        var results: [Result<ByteStream, TunnelFailure>] = []
        // The owner keeps its attempts (a Tunnel does) until they finish.
        let attempts = (0..<2).map { _ in connector.open(destination: "db.internal:5432", token: nil) { results.append($0) } }
        spin("both requests at the gateway") { gateway.connections.first?.server.order.count == 2 }
        gateway.dropAll()
        spin("both failures") { results.count == 2 }
        for result in results {
            guard case .failure(let failure) = result else { return XCTFail("\(result)") }
            XCTAssertEqual(failure, .http2(.connectionLost("the gateway closed the connection")))
            XCTAssertEqual(failure.metricClass, "gateway_io")
        }
        XCTAssert(attempts.allSatisfy { $0.stage == .finished })
        spin("the connection to go") { connector.connectionCount == 0 }
        connector.shutdown()
    }

    func testStreamsAGoAwayLeftUnprocessedStartAgainOnAnotherConnection() throws {
        gateway.answer = { _ in 0 }  // the first connection answers nothing
        let connector = try connector()
        var results: [Result<ByteStream, TunnelFailure>] = []
        let attempts = (0..<2).map { _ in connector.open(destination: "db.internal:5432", token: nil) { results.append($0) } }
        spin("both requests at the first connection") { gateway.connections.first?.server.order.count == 2 }
        gateway.answer = nil  // connections from now on answer 200
        gateway.connections[0].server.goAway(lastStreamID: 0)
        spin("both tunnels open") { results.count == 2 }
        let streams = results.compactMap { try? $0.get() }
        XCTAssertEqual(streams.count, 2, "\(results)")
        XCTAssertEqual(gateway.connections.last?.server.order.count, 2, "both went again on the new connection")
        spin("the old connection to close") { connector.connectionCount == 1 && gateway.closedCount == 1 }
        XCTAssert(attempts.allSatisfy { $0.stage == .finished })
        streams.forEach { $0.close() }
        connector.shutdown()
    }

    /// A tunnel's first bytes go on its stream before the answer; a stream
    /// that must start again (GOAWAY did not cover it) carries them again,
    /// once, on the new connection.
    func testEarlyBytesGoBeforeTheAnswerAndAgainOnAStreamThatStartsOver() throws {
        gateway.answer = { _ in 0 }  // the first connection answers nothing
        let connector = try connector()
        var results: [Result<ByteStream, TunnelFailure>] = []
        let early = Array("first words".utf8)
        let attempt = connector.open(destination: "db.internal:5432", token: nil) { results.append($0) }
        attempt.carryEarly(early)  // before the connection is even up: sent once the stream opens
        spin("the early bytes at the first connection") {
            gateway.connections.first?.server.streams.values.first?.received == early
        }
        gateway.answer = nil
        gateway.connections[0].server.goAway(lastStreamID: 0)
        spin("the tunnel open") { results.count == 1 }
        let stream = try XCTUnwrap(try? results[0].get())
        XCTAssertTrue(attempt.carriedEarly)
        let second = try XCTUnwrap(gateway.connections.last?.server)
        XCTAssertEqual(second.streams.values.map(\.received), [early], "carried again, once")
        stream.close()
        connector.shutdown()
    }

    /// `--no-early-data`: a tunnel reads nothing from its local client before
    /// the answer, so none of its bytes reach the gateway ahead of it, while
    /// a tunnel with early data opened beside it has its bytes there already.
    func testWithoutEarlyDataTheFirstBytesWaitForTheAnswer() throws {
        gateway.answer = { _ in 0 }  // no answer: whatever arrives came before it
        let options = try options()
        let connectors = [try connector(earlyData: true), try connector(earlyData: false)]
        XCTAssertEqual(connectors.map(\.carriesEarlyData), [true, false])
        let servers = connectors.map {
            TunnelServer(loop: loop, options: options, tokens: FixedTokenSource(token: "t"), connector: $0, logger: logger)
        }
        let pairs = servers.map { _ in MemoryStreamPair(loop: loop) }
        let words = [Array("with early data".utf8), Array("without".utf8)]
        for index in servers.indices {
            pairs[index].b.write(loop.buffers.buffers(copying: words[index])) { XCTAssertNil($0) }
            servers[index].open(local: pairs[index].a)
        }
        let requests = { self.gateway.connections.compactMap { $0.server.streams.values.first } }
        spin("both requests at the gateway, the first one's bytes with it") {
            requests().count == 2 && requests().contains { $0.received == words[0] }
        }
        for _ in 0..<20 { _ = loop.runOnce(block: false) }
        XCTAssertEqual(requests().map(\.received).filter { !$0.isEmpty }, [words[0]], "nothing early from the tunnel without early data")
        for server in servers {
            var drained = false
            server.onDrained = { drained = true }
            server.shutdown(drainMilliseconds: 0)
            spin("the drain") { drained }
        }
        pairs.forEach { $0.b.close() }
        connectors.forEach { $0.shutdown() }
    }

    /// A local client that wrote before it was accepted (most do: they
    /// connect and speak) has its bytes in the same transport write as its
    /// CONNECT: the gateway reads them with the request, so they reach the
    /// target when it connects, not a round trip later.
    func testBytesWaitingAtAcceptLeaveInTheRequestsWrite() throws {
        gateway.answer = { _ in 0 }  // no answer: the requests stay as they arrived
        let connector = try connector()
        let server = TunnelServer(loop: loop, options: try options(), tokens: FixedTokenSource(token: "t"),
                                  connector: connector, logger: logger)
        let bound = try server.listen(on: try SocketAddress(ip: "127.0.0.1", port: 0))
        // A first tunnel brings the connection up, so the second's HEADERS go at once.
        let first = BlockingSocket.connected(to: bound)
        spin("the first request") { gateway.connections.first?.server.order.count == 1 }
        // Connected and written before the loop turns: the bytes wait in the socket at accept.
        let words = Array("first words".utf8)
        let second = BlockingSocket.connected(to: bound, sending: words)
        let requests = { () -> [H2TestStream] in
            guard let h2 = self.gateway.connections.first?.server else { return [] }
            return h2.order.compactMap { h2.streams[$0] }
        }
        spin("the second request and its bytes") { requests().count == 2 && requests()[1].received == words }
        let request = requests()[1]
        XCTAssertEqual(request.firstDataReceive, request.headersReceive, "the bytes were read with the HEADERS")
        XCTAssertEqual(gateway.connections.count, 1)
        Glibc.close(first)
        Glibc.close(second)
        var drained = false
        server.onDrained = { drained = true }
        server.shutdown(drainMilliseconds: 0)
        spin("the drain") { drained }
        connector.shutdown()
    }

    func testAConnectionThatStopsAnsweringIsDeclaredDeadAndTheNextTunnelGetsAFreshOne() throws {
        let connector = try connector(pingMilliseconds: 50)
        var result: Result<ByteStream, TunnelFailure>?
        var attempt = connector.open(destination: "db.internal:5432", token: nil) { result = $0 }
        spin("the answer") { result != nil }
        let stream = try XCTUnwrap(try? result?.get())
        // Quiet but alive: PINGs are answered, the tunnel stays.
        let quietUntil = Date().addingTimeInterval(0.3)
        spin("a quiet while") { Date() > quietUntil }
        XCTAssertEqual(connector.connectionCount, 1)
        var readError: String?
        stream.onRead = { [loop] event in
            if case .data(let buffer) = event { loop!.buffers.give(buffer) }
            if case .error(let error) = event { readError = error.message }
        }
        stream.startReading()
        gateway.muted = true
        spin("the dead connection's tunnel to fail") { readError != nil }
        XCTAssertEqual(readError, "the HTTP/2 connection to the gateway was lost: the gateway sent nothing for 0.1s, not even an answer to PING")
        XCTAssertEqual(connector.connectionCount, 0)
        stream.close()
        gateway.muted = false
        result = nil
        attempt = connector.open(destination: "db.internal:5432", token: nil) { result = $0 }
        spin("a tunnel on a fresh connection") { result != nil }
        let fresh = try XCTUnwrap(try? result?.get())
        XCTAssertEqual(attempt.stage, .finished)
        XCTAssertEqual(connector.connectionCount, 1)
        fresh.close()
        connector.shutdown()
    }

    /// The gateway's ALPN picks http/1.1 after a slow handshake: the HTTP/1.1
    /// attempt gets what is left of --connect-timeout, not a fresh one.
    func testTheALPNFallbackUsesWhatIsLeftOfTheConnectTimeout() throws {
        gateway.close()
        gateway = try H2TLSGateway(loop: loop, protocols: ["http/1.1"])
        gateway.handshakeDelayMilliseconds = 300
        gateway.muted = true  // the HTTP/1.1 CONNECT is never answered
        let connector = try connector(connectTimeoutMilliseconds: 500)
        let started = loop.now
        var result: Result<ByteStream, TunnelFailure>?
        var endedAt: UInt64 = 0
        let attempt = connector.open(destination: "db.internal:5432", token: nil) { [loop] in
            result = $0
            endedAt = loop!.now
        }
        spin("the timeout") { result != nil }
        guard case .failure(.timedOut(_, let milliseconds, _)) = result else { return XCTFail("\(String(describing: result))") }
        XCTAssertEqual(milliseconds, 500, "the message names the timeout the user set")
        // A fresh timeout after the fallback would end at 300 + 500 ms at the earliest.
        XCTAssertLessThan(endedAt - started, 750)
        XCTAssertEqual(attempt.stage, .finished)
        connector.shutdown()
    }

    /// A connection out of stream ids refuses the next stream: it goes away
    /// (closing once its streams are done) and the tunnel opens on another.
    func testAConnectionThatCannotOpenAStreamGoesAwayAndTheTunnelGoesOnAnother() throws {
        let connector = try connector()
        var results: [Result<ByteStream, TunnelFailure>] = []
        var attempts = [connector.open(destination: "db.internal:5432", token: nil) { results.append($0) }]
        spin("the first tunnel") { results.count == 1 }
        let first = try XCTUnwrap(connector.connections.first)
        first.session.setNextStreamID(0x7fff_ffff)  // the last id a client may use
        attempts.append(connector.open(destination: "db.internal:5432", token: nil) { results.append($0) })
        spin("the second tunnel") { results.count == 2 }
        attempts.append(connector.open(destination: "db.internal:5432", token: nil) { results.append($0) })
        spin("the third tunnel") { results.count == 3 }
        let streams = results.compactMap { try? $0.get() }
        XCTAssertEqual(streams.count, 3, "\(results)")
        XCTAssertTrue(first.session.isGoingAway)
        XCTAssertEqual(gateway.acceptedCount, 2, "the third went on a new connection")
        XCTAssertEqual(gateway.connections.last?.server.order.count, 1)
        XCTAssert(attempts.allSatisfy { $0.stage == .finished })
        streams[0].close()
        streams[1].close()
        spin("the used-up connection to close") { gateway.closedCount == 1 && connector.connectionCount == 1 }
        streams[2].close()
        connector.shutdown()
    }

    /// GOAWAY covering the open streams: they relay on to their end, new
    /// tunnels go on a new connection, the old one closes when its last ends.
    func testAfterAGoAwayTheStreamsItCoversFinishAndNewTunnelsGoElsewhere() throws {
        let connector = try connector()
        var results: [Result<ByteStream, TunnelFailure>] = []
        var attempts = (0..<2).map { _ in connector.open(destination: "db.internal:5432", token: nil) { results.append($0) } }
        spin("two tunnels") { results.count == 2 }
        let streams = results.compactMap { try? $0.get() }
        XCTAssertEqual(streams.count, 2, "\(results)")
        let old = gateway.connections[0].server
        old.goAway(lastStreamID: try XCTUnwrap(old.order.last))
        spin("the GOAWAY at the client") { connector.connections.first?.session.isGoingAway == true }
        attempts.append(connector.open(destination: "db.internal:5432", token: nil) { results.append($0) })
        spin("a third tunnel") { results.count == 3 }
        XCTAssertNotNil(try? results[2].get(), "\(results[2])")
        XCTAssertEqual(gateway.acceptedCount, 2, "the third went on a new connection")
        // The covered streams still carry bytes both ways, to their end.
        for (i, stream) in streams.enumerated() {
            let id = old.order[i]
            var got: [UInt8] = []
            var eof = false
            stream.onRead = { [loop] event in
                switch event {
                case .data(let buffer): got += buffer.bytes; loop!.buffers.give(buffer)
                case .eof: eof = true
                case .error(let error): XCTFail(error.message)
                }
            }
            stream.startReading()
            stream.write(loop.buffers.buffers(copying: Array("up \(i)".utf8))) { XCTAssertNil($0) }
            spin("the bytes at the gateway") { old.streams[id]?.received == Array("up \(i)".utf8) }
            old.send(Array("down \(i)".utf8), on: id, end: true)
            spin("the answer and EOF") { eof }
            XCTAssertEqual(got, Array("down \(i)".utf8))
            var shut = false
            stream.shutdownWrite { XCTAssertNil($0); shut = true }
            spin("our end") { shut }
        }
        spin("the old connection to close") { gateway.closedCount == 1 && connector.connectionCount == 1 }
        XCTAssert(attempts.allSatisfy { $0.stage == .finished })
        results.compactMap { try? $0.get() }.forEach { $0.close() }
        connector.shutdown()
    }

    /// A connection that stops answering: each of its tunnels closes with one
    /// line naming why, the connection with one warning.
    func testADeadConnectionClosesEachTunnelWithOneLine() throws {
        let capture = LogCapture()
        let tunnelLogger = capture.logger(level: .info)
        let options = try options()
        var settings = HTTP2Settings()
        settings.pingIntervalMilliseconds = 50
        var client = TLSClientOptions()
        client.extraCAPEM = gateway.certificatePEM
        client.alpnProtocols = ["h2", "http/1.1"]
        let connector = HTTP2Connector(loop: loop, options: options, tls: try TLSContext.client(client), settings: settings,
                                       logger: tunnelLogger)
        let server = TunnelServer(loop: loop, options: options, tokens: FixedTokenSource(token: "t"), connector: connector,
                                  logger: tunnelLogger)
        let pairs = (0..<3).map { _ in MemoryStreamPair(loop: loop) }
        for pair in pairs {
            pair.b.onRead = { [loop] event in if case .data(let buffer) = event { loop!.buffers.give(buffer) } }
            pair.b.startReading()
            server.open(local: pair.a)
        }
        spin("three tunnels relaying") { gateway.connections.first?.server.order.count == 3 && connector.connections.first?.session.openStreamCount == 3 }
        for _ in 0..<10 { _ = loop.runOnce(block: false) }
        gateway.muted = true
        spin("every tunnel closed") { server.openTunnelCount == 0 }
        let lost = capture.lines(atLeast: .warning).filter { $0.message.hasPrefix("disconnected db.internal:5432") }
        XCTAssertEqual(lost.count, 3, "\(capture.lines)")
        XCTAssert(lost.allSatisfy { $0.message.hasSuffix("the HTTP/2 connection to the gateway was lost: the gateway sent nothing for 0.1s, not even an answer to PING") },
                  "\(lost)")
        let connectionLines = capture.lines(atLeast: .warning).filter { $0.message.hasPrefix("HTTP/2 connection") }
        XCTAssertEqual(connectionLines.count, 1, "\(capture.lines)")
        XCTAssert(connectionLines.first?.message.hasSuffix("(3 tunnel(s) on it closed)") == true, "\(connectionLines)")
        var drained = false
        server.onDrained = { drained = true }
        server.shutdown(drainMilliseconds: 0)
        spin("the drain") { drained }
        pairs.forEach { $0.b.close() }
    }

    func testMetricsShowConnectionsPerGatewayAndStreamsPerConnection() throws {
        let connector = try connector(maxStreams: 2)
        let metrics = TunnelMetrics()
        XCTAssertFalse(metrics.render().contains("uvtunnel_gateway_"), "no lines without --multiplex")
        metrics.sharedConnections = { connector.sharedConnections }
        var results: [Result<ByteStream, TunnelFailure>] = []
        let attempts = (0..<3).map { _ in connector.open(destination: "db.internal:5432", token: "t") { results.append($0) } }
        spin("three answers") { results.count == 3 }
        let names = connector.connections.map { "h2-\($0.id)" }
        let counts = connector.connections.map { $0.session.openStreamCount }
        XCTAssertEqual(counts.sorted(), [1, 2])
        let gatewayName = "https://127.0.0.1:\(gateway.address.port)"
        let text = metrics.render()
        XCTAssert(text.contains("uvtunnel_gateway_connections_open{gateway=\"\(gatewayName)\"} 2"), text)
        for (name, count) in zip(names, counts) {
            XCTAssert(text.contains("uvtunnel_gateway_connection_streams{gateway=\"\(gatewayName)\",connection=\"\(name)\"} \(count)"), text)
        }
        XCTAssertNotEqual(names[0], names[1])
        results.compactMap { try? $0.get() }.forEach { $0.close() }
        XCTAssert(attempts.allSatisfy { $0.stage == .finished })
        connector.shutdown()
        XCTAssertFalse(metrics.render().contains("uvtunnel_gateway_"), "no connection left")
    }

    /// Descriptors open in this process now.
    private func openDescriptors() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count
    }

    /// A gateway that resets every stream, then sends bytes that are not
    /// HTTP/2: each tunnel fails once, the next gets a fresh connection, and
    /// after shutdown the process holds the descriptors it started with.
    func testAHostileGatewayLeavesNoDescriptorBehind() throws {
        let before = openDescriptors()
        let connector = try connector()
        var results: [Result<ByteStream, TunnelFailure>] = []
        var attempts = (0..<20).map { _ in connector.open(destination: "db.internal:5432", token: nil) { results.append($0) } }
        spin("twenty tunnels") { results.count == 20 }
        let streams = results.compactMap { try? $0.get() }
        XCTAssertEqual(streams.count, 20, "\(results)")
        var errors = 0
        for stream in streams {
            stream.onRead = { [loop] event in
                if case .data(let buffer) = event { loop!.buffers.give(buffer) }
                if case .error = event { errors += 1 }
            }
            stream.startReading()
        }
        let server = gateway.connections[0].server
        for _ in 0..<5 { for id in server.order { server.reset(id, code: 0x8) } }
        spin("every tunnel's reset") { errors == 20 }
        gateway.sendRaw(Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8))
        spin("the connection to end") { connector.connectionCount == 0 }
        streams.forEach { $0.close() }
        results.removeAll()
        attempts.append(connector.open(destination: "db.internal:5432", token: nil) { results.append($0) })
        spin("a tunnel on a fresh connection") { results.count == 1 }
        let fresh = try XCTUnwrap(try? results[0].get(), "\(results)")
        fresh.close()
        connector.shutdown()
        spin("the gateway to see both connections close") { gateway.closedCount == 2 }
        XCTAssert(attempts.allSatisfy { $0.stage == .finished })
        spin("descriptors back to where they were") { openDescriptors() == before }
    }

    func testA401OnAStreamSignsInOnceAndRetriesOnTheSameConnection() throws {
        gateway.answer = { headers in headers.contains { $0 == ("authorization", "Pomerium new") } ? 200 : 401 }
        let tokens = RotatingTokens()
        let options = try options()
        let server = TunnelServer(loop: loop, options: options, tokens: tokens, connector: try connector(), logger: logger)
        let pair = MemoryStreamPair(loop: loop)
        let (local, client) = (pair.a, pair.b)
        var fromGateway: [UInt8] = []
        client.onRead = { [loop] event in
            if case .data(let buffer) = event {
                fromGateway += buffer.bytes
                loop!.buffers.give(buffer)
            }
        }
        client.startReading()
        server.open(local: local)
        spin("the retried tunnel to relay") { server.openTunnelCount == 1 && gateway.connections.first?.server.order.count == 2 }
        client.write(loop.buffers.buffers(copying: Array("hello".utf8))) { XCTAssertNil($0) }
        let gatewayServer = try XCTUnwrap(gateway.connections.first?.server)
        let retried = try XCTUnwrap(gatewayServer.order.last)
        spin("the bytes at the gateway") { gatewayServer.streams[retried]?.received == Array("hello".utf8) }
        gatewayServer.send(Array("world".utf8), on: retried)
        spin("the answer at the client") { fromGateway == Array("world".utf8) }
        XCTAssertEqual(tokens.rejected, ["old"])
        XCTAssertEqual(gateway.connections.count, 1, "the retry is a stream, not a connection")
        var drained = false
        server.onDrained = { drained = true }
        server.shutdown(drainMilliseconds: 0)
        spin("the drain") { drained }
        spin("the gateway to see the connection close") { gateway.closedCount == 1 }
        client.close()
    }
}

/// "old" until the gateway rejects it, then "new" at once (no browser).
private final class RotatingTokens: TokenSource {
    var rejected: [String?] = []
    private var current = "old"

    func token(waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability { .now(current) }

    func rejected(_ token: String?, waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability {
        rejected.append(token)
        current = "new"
        return .now(current)
    }
}
