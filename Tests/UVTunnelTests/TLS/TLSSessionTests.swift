import XCTest
@testable import UVTunnel
import UVTunnelGateway

/// A client and a server session talking through memory only: the same
/// feed/drain calls the loop makes, without sockets.
final class TLSSessionTests: XCTestCase {
    private let pool = BufferPool(bufferSize: 64 * 1024, maxCached: 8)

    /// Moves every pending ciphertext byte from one session to the other
    /// (the buffers change hands: the receiver gives them back once read).
    private func shuttle(_ from: TLSSession, _ to: TLSSession) {
        for buffer in from.takeOutput() { to.feed(buffer) }
    }

    private func handshake(_ client: TLSSession, _ server: TLSSession) -> (TLSSession.Step, TLSSession.Step) {
        var clientStep = client.handshake()
        var serverStep = server.handshake()
        for _ in 0..<10 {
            shuttle(client, server)
            serverStep = server.handshake()
            shuttle(server, client)
            clientStep = client.handshake()
            if case .done = clientStep, case .done = serverStep { break }
            if case .failed = clientStep { break }
            if case .failed = serverStep { break }
        }
        return (clientStep, serverStep)
    }

    private func makePair(trust: String?, name: String = "localhost") throws -> (TLSSession, TLSSession) {
        let made = try CertificateFactory.makeSelfSigned()
        let server = try TLSSession(server: try TLSContext.server(certificatePEM: made.certificatePEM, privateKeyPEM: made.privateKeyPEM), pool: pool)
        var options = TLSClientOptions()
        options.extraCAPEM = trust ?? made.certificatePEM
        let client = try TLSSession(client: try TLSContext.client(options), serverName: name, verifyName: true, pool: pool)
        return (client, server)
    }

    func testHandshakeAndDataBothWays() throws {
        let (client, server) = try makePair(trust: nil)
        let (c, s) = handshake(client, server)
        guard case .done = c, case .done = s else { return XCTFail("handshake: \(c) \(s)") }
        XCTAssertEqual(client.negotiatedProtocol, nil, "the server offers no ALPN: none is negotiated")
        XCTAssertTrue(client.protocolVersion.hasPrefix("TLSv1."))

        let message = pool.take()
        let payload = Array((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        var sent = 0
        var received: [UInt8] = []
        while sent < payload.count {
            message.reset()
            sent += message.append(payload[sent...])
            try client.write(message)
            shuttle(client, server)
            while true {
                let into = pool.take()
                defer { pool.give(into) }
                guard case .bytes = server.read(into: into) else { break }
                received += into.bytes
            }
        }
        pool.give(message)
        XCTAssertEqual(received, payload)

        // close_notify from the client reads as a clean end on the server,
        // and the server can still send afterwards (half-close).
        client.sendCloseNotify()
        shuttle(client, server)
        let end = pool.take()
        guard case .closed = server.read(into: end) else { return XCTFail("expected close_notify") }
        pool.give(end)
        let reply = pool.take()
        reply.append(Array("after half-close".utf8))
        try server.write(reply)
        pool.give(reply)
        shuttle(server, client)
        let got = pool.take()
        guard case .bytes = client.read(into: got) else { return XCTFail("client could not read after its close_notify") }
        XCTAssertEqual(String(decoding: got.bytes, as: UTF8.self), "after half-close")
        pool.give(got)
    }

    /// Records split across many small socket reads, all fed before OpenSSL
    /// reads any, come out whole and in order; every ciphertext buffer goes
    /// back to the pool, also those still held when the sessions go away.
    func testCiphertextInSmallPiecesAndEveryBufferBackInThePool() throws {
        var (client, server): (TLSSession?, TLSSession?) = try makePair(trust: nil)
        let (c, s) = handshake(client!, server!)
        guard case .done = c, case .done = s else { return XCTFail("handshake: \(c) \(s)") }
        let payload = Array((0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 17 &+ 1) })
        let message = pool.take()
        message.append(payload)
        try client!.write(message)
        pool.give(message)
        // The ciphertext in 1000-byte pieces, each its own pool buffer.
        var ciphertext: [UInt8] = []
        for buffer in client!.takeOutput() {
            ciphertext += buffer.bytes
            pool.give(buffer)
        }
        XCTAssertGreaterThan(ciphertext.count, payload.count)
        for start in stride(from: 0, to: ciphertext.count, by: 1000) {
            server!.feed(pool.buffers(copying: Array(ciphertext[start..<min(start + 1000, ciphertext.count)]))[0])
        }
        var received: [UInt8] = []
        while true {
            let into = pool.take()
            defer { pool.give(into) }
            guard case .bytes = server!.read(into: into) else { break }
            received += into.bytes
        }
        XCTAssert(received == payload, "\(received.count) of \(payload.count) bytes, or different ones")
        XCTAssertFalse(server!.hasBufferedInput)
        // Buffers still inside the sessions when they go: a reply not taken,
        // and the start of a record not read.
        let reply = pool.take()
        reply.append(Array("unsent".utf8))
        try server!.write(reply)
        pool.give(reply)
        client!.feed(pool.buffers(copying: Array(ciphertext.prefix(3)))[0])
        XCTAssertTrue(client!.hasBufferedInput)
        XCTAssertGreaterThan(server!.pendingOutput, 0)
        client = nil
        server = nil
        XCTAssertEqual(pool.outstanding, 0, "every buffer back in the pool")
    }

    func testSecondConnectionResumesTheSession() throws {
        let made = try CertificateFactory.makeSelfSigned()
        let serverContext = try TLSContext.server(certificatePEM: made.certificatePEM, privateKeyPEM: made.privateKeyPEM)
        var options = TLSClientOptions()
        options.extraCAPEM = made.certificatePEM
        let clientContext = try TLSContext.client(options)
        var resumed: [Bool] = []
        for _ in 0..<2 {
            let client = try TLSSession(client: clientContext, serverName: "localhost", verifyName: true, pool: pool)
            let server = try TLSSession(server: serverContext, pool: pool)
            let (c, s) = handshake(client, server)
            guard case .done = c, case .done = s else { return XCTFail("handshake: \(c) \(s)") }
            // TLS 1.3 tickets come after the handshake: let the client read them.
            shuttle(server, client)
            let scratch = pool.take()
            _ = client.read(into: scratch)
            pool.give(scratch)
            resumed.append(client.resumed)
        }
        XCTAssertEqual(resumed, [false, true])
    }

    func testUntrustedCertificateFailsWithVerifyReason() throws {
        let stranger = try CertificateFactory.makeSelfSigned()
        let (client, server) = try makePair(trust: stranger.certificatePEM)
        let (c, _) = handshake(client, server)
        guard case .failed(let error) = c else { return XCTFail("expected failure, got \(c)") }
        XCTAssertTrue(error.message.contains("certificate verify failed"), error.message)
    }

    func testWrongHostNameFails() throws {
        let (client, server) = try makePair(trust: nil, name: "gateway.example.com")
        let (c, _) = handshake(client, server)
        guard case .failed(let error) = c else { return XCTFail("expected failure, got \(c)") }
        XCTAssertTrue(error.message.contains("hostname mismatch"), error.message)
    }

    func testIPAddressIsVerifiedAgainstIPSubjectAltName() throws {
        let (client, server) = try makePair(trust: nil, name: "127.0.0.1")
        let (c, s) = handshake(client, server)
        guard case .done = c, case .done = s else { return XCTFail("handshake: \(c) \(s)") }
        let (client2, server2) = try makePair(trust: nil, name: "127.0.0.2")
        guard case .failed = handshake(client2, server2).0 else { return XCTFail("127.0.0.2 must not match") }
    }
}
