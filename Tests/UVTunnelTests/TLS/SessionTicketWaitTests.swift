import CShims
import XCTest
@testable import UVTunnel
import UVTunnelGateway

/// A burst of GatewayDialers to one TLS server on loopback (real sockets, real
/// OpenSSL on both sides): the first does a full handshake and the others wait
/// for its ticket and resume; a server that issues no tickets, and a first
/// handshake that fails, still let every waiter go.
final class SessionTicketWaitTests: XCTestCase {
    private static let identity = try! CertificateFactory.makeSelfSigned()

    /// Accepts TLS connections; after each handshake it sends "hi" (after its
    /// tickets, as OpenSSL does), or nothing when `greet` is false.
    private final class Server {
        let listener: TCPListener
        private var streams: [TLSStream] = []
        private(set) var handshakes = 0

        init(loop: EventLoop, tickets: Bool, greet: Bool = true) throws {
            let context = try TLSContext.server(certificatePEM: SessionTicketWaitTests.identity.certificatePEM,
                                                privateKeyPEM: SessionTicketWaitTests.identity.privateKeyPEM)
            if !tickets { XCTAssertEqual(SSL_CTX_set_num_tickets(context.raw, 0), 1) }
            listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
            listener.start { [unowned self] socket in
                guard let tls = try? TLSStream.server(socket: socket, context: context) else { return socket.close() }
                self.streams.append(tls)
                tls.handshake { [unowned self] error in
                    guard error == nil else { return }
                    self.handshakes += 1
                    guard greet else { return }
                    let hello = loop.buffers.take()
                    _ = hello.append(Array("hi".utf8))
                    tls.write([hello]) { _ in }
                }
            }
        }

        var port: UInt16 { listener.address.port }

        func close() {
            streams.forEach { $0.close() }
            listener.close()
        }
    }

    /// What a burst's dials ended with.
    private final class Outcomes {
        var resumed: [Bool] = []
        var failures: [String] = []
        var streams: [TLSStream] = []
        var dialers: [GatewayDialer] = []
        var count: Int { resumed.count + failures.count }
    }

    private func clientContext() throws -> TLSContext {
        var options = TLSClientOptions()
        options.extraCAPEM = Self.identity.certificatePEM
        return try TLSContext.client(options)
    }

    /// Starts `count` dials to `port`; each opened stream is read (that is
    /// when a TLS 1.3 ticket arrives); `done` runs once all have ended.
    private func dial(_ count: Int, port: UInt16, context: TLSContext, loop: EventLoop, into outcomes: Outcomes,
                      waitLimit: UInt64 = 600_000, done: @escaping () -> Void) {
        for _ in 0..<count {
            let target = DialTarget(host: "127.0.0.1", port: port, tls: context, verifyHostName: true, proxy: nil, userAgent: "t")
            let dialer = GatewayDialer(loop: loop, target: target) { result in
                switch result {
                case .success(let stream):
                    let tls = stream as! TLSStream
                    outcomes.resumed.append(tls.resumedSession)
                    outcomes.streams.append(tls)
                    tls.onRead = { event in if case .data(let buffer) = event { loop.buffers.give(buffer) } }
                    tls.startReading()
                case .failure(let failure):
                    outcomes.failures.append(failure.description)
                }
                if outcomes.count == count { done() }
            }
            // By default far beyond the spins' limit: a waiter nothing released would stall the test.
            dialer.ticketWaitLimitMilliseconds = waitLimit
            outcomes.dialers.append(dialer)
            dialer.start()
        }
    }

    /// Closes everything; nothing may be left.
    private func finish(_ loop: EventLoop, _ outcomes: Outcomes, servers: [Server], file: StaticString = #filePath, line: UInt = #line) {
        outcomes.streams.forEach { $0.close() }
        outcomes.dialers.forEach { $0.cancel() }
        servers.forEach { $0.close() }
        loop.assertEverythingReturnedAndClose(file: file, line: line)
    }

    func testABurstMakesOneFullHandshakeAndResumesTheRest() throws {
        let loop = try EventLoop()
        let server = try Server(loop: loop, tickets: true)
        let outcomes = Outcomes()
        var finished = false
        dial(8, port: server.port, context: try clientContext(), loop: loop, into: outcomes) { finished = true }
        loop.spin("the burst", seconds: 20, file: #filePath, line: #line) { finished }
        XCTAssertEqual(outcomes.failures, [])
        XCTAssertEqual(outcomes.resumed.filter { !$0 }.count, 1, "one full handshake: \(outcomes.resumed)")
        XCTAssertEqual(outcomes.resumed.filter { $0 }.count, 7, "the others resumed: \(outcomes.resumed)")
        finish(loop, outcomes, servers: [server])
    }

    func testAServerWithoutTicketsStillServesTheBurstAndLaterDialsDoNotWait() throws {
        for greet in [true, false] {  // released by the first read, or by the bound after the handshake
            let loop = try EventLoop()
            let server = try Server(loop: loop, tickets: false, greet: greet)
            let context = try clientContext()
            let outcomes = Outcomes()
            var finished = false
            dial(6, port: server.port, context: context, loop: loop, into: outcomes) { finished = true }
            loop.spin("the burst", seconds: 20, file: #filePath, line: #line) { finished }
            XCTAssertEqual(outcomes.failures, [])
            XCTAssertEqual(outcomes.resumed, Array(repeating: false, count: 6), "greet: \(greet)")
            XCTAssertFalse(context.sessionCache!.lacksTicket(for: "127.0.0.1"), "noted as issuing no tickets: a later burst goes at once")
            finish(loop, outcomes, servers: [server])
        }
    }

    func testAFailedFirstHandshakeLetsTheWaitersGoOnTheirOwn() throws {
        let loop = try EventLoop()
        // The first dial goes to a server that accepts and never answers the
        // ClientHello, then hangs up; the waiters' dials go to a real server.
        let server = try Server(loop: loop, tickets: true)
        let context = try clientContext()
        var firstDone = false
        let (mute, first) = try hangingFirstDial(loop: loop, context: context) { firstDone = true }
        let rest = Outcomes()
        var restDone = false
        dial(5, port: server.port, context: context, loop: loop, into: rest) { restDone = true }
        loop.spin("the waiters", seconds: 20, file: #filePath, line: #line) { loop.sessionTicketWait.waiting(for: "127.0.0.1") == 5 }
        XCTAssertEqual(server.handshakes, 0, "held before TLS")
        mute.hangUp()
        loop.spin("the burst", seconds: 20, file: #filePath, line: #line) { firstDone && restDone }
        XCTAssertEqual(first.failures.count, 1, "\(first.failures)")
        XCTAssertEqual(rest.failures, [])
        XCTAssertEqual(rest.resumed.count, 5)
        mute.close()
        rest.streams.forEach { $0.close() }
        finish(loop, first, servers: [server])
    }

    func testAWaiterGoesAtItsOwnLimitWhileTheFirstHandshakeHangs() throws {
        let loop = try EventLoop()
        let server = try Server(loop: loop, tickets: true)
        let context = try clientContext()
        let (mute, first) = try hangingFirstDial(loop: loop, context: context) {}
        let rest = Outcomes()
        var restDone = false
        dial(3, port: server.port, context: context, loop: loop, into: rest, waitLimit: 50) { restDone = true }
        loop.spin("the waiters' own limit", seconds: 20, file: #filePath, line: #line) { restDone }
        XCTAssertEqual(rest.failures, [])
        XCTAssertEqual(rest.resumed, [false, false, false], "full handshakes: no ticket came")
        XCTAssertEqual(first.count, 0, "the first handshake still hangs")
        mute.hangUp()
        mute.close()
        rest.streams.forEach { $0.close() }
        finish(loop, first, servers: [server])
    }

    /// A listener that accepts and never answers: a TLS start to it hangs in the handshake.
    private final class MuteListener {
        private let listener: TCPListener
        private(set) var accepted: [UVStream] = []
        var port: UInt16 { listener.address.port }
        init(loop: EventLoop) throws {
            listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
            listener.start { [unowned self] in self.accepted.append($0) }
        }
        /// Closes what it accepted: the hanging handshake fails.
        func hangUp() { accepted.forEach { $0.close() } }
        func close() { listener.close() }
    }

    /// One dial to a mute listener, spun until its ClientHello is out: the
    /// leading full handshake that never finishes on its own.
    private func hangingFirstDial(loop: EventLoop, context: TLSContext,
                                  done: @escaping () -> Void) throws -> (MuteListener, Outcomes) {
        let mute = try MuteListener(loop: loop)
        let first = Outcomes()
        dial(1, port: mute.port, context: context, loop: loop, into: first, done: done)
        loop.spin("the first dial's ClientHello", seconds: 20, file: #filePath, line: #line) {
            !mute.accepted.isEmpty && first.dialers[0].stage == .handshaking
        }
        return (mute, first)
    }
}
