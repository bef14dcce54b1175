import CShims
@testable import UVTunnel
import UVTunnelGateway

/// An HTTP/2 CONNECT gateway on this loop for connector tests: a TLS
/// listener on 127.0.0.1 whose ALPN picks `protocols`' first match, and an
/// `H2TestServer` per connection (answers 200, or `answer`'s status).
final class H2TLSGateway {
    let certificatePEM: String
    let address: SocketAddress
    private let loop: EventLoop
    private let context: TLSContext
    private var listener: TCPListener?
    private(set) var connections: [(tls: TLSStream, server: H2TestServer)] = []
    var answer: (([(String, String)]) -> Int)?
    /// Closed connections (the client's GOAWAY and close, or a test's `dropAll`).
    private(set) var closedCount = 0
    /// True: what clients send is dropped unread, so nothing is answered
    /// (not even PING), as from a gateway that hung or a path that died.
    var muted = false
    /// Connections accepted so far (TLS up), closed ones included.
    private(set) var acceptedCount = 0
    /// True: each new connection sends GOAWAY (last stream 0) right after its SETTINGS.
    var goAwayAtOnce = false

    private let maxConcurrentStreams: UInt32
    private let extendedConnect: Bool
    /// Each TLS handshake starts this long after the TCP accept (a slow gateway).
    var handshakeDelayMilliseconds: UInt64 = 0
    private var delays: [(timer: UVTimer, socket: UVStream)] = []

    /// `extendedConnect`: its SETTINGS announce ENABLE_CONNECT_PROTOCOL (connect-udp streams).
    init(loop: EventLoop, protocols: [String] = ["h2", "http/1.1"], maxConcurrentStreams: UInt32 = 100,
         extendedConnect: Bool = false) throws {
        self.loop = loop
        self.maxConcurrentStreams = maxConcurrentStreams
        self.extendedConnect = extendedConnect
        let made = try CertificateFactory.makeSelfSigned()
        certificatePEM = made.certificatePEM
        context = try TLSContext.server(certificatePEM: made.certificatePEM, privateKeyPEM: made.privateKeyPEM)
        context.selectALPN(protocols)
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        address = listener.address
        self.listener = listener
        listener.start { [weak self] socket in self?.accepted(socket) }
    }

    private func accepted(_ socket: UVStream) {
        guard handshakeDelayMilliseconds > 0 else { return handshake(socket) }
        let timer = UVTimer(loop: loop)
        delays.append((timer, socket))
        timer.start(milliseconds: handshakeDelayMilliseconds) { [weak self] in
            timer.close()
            self?.delays.removeAll { $0.timer === timer }
            self?.handshake(socket)
        }
    }

    private func handshake(_ socket: UVStream) {
        guard let tls = try? TLSStream.server(socket: socket, context: context) else { return socket.close() }
        tls.handshake { [weak self, loop] error in
            guard let self, error == nil else { return tls.close() }
            let server = H2TestServer(send: { bytes in tls.write(loop.buffers.buffers(copying: bytes)) { _ in } },
                                      maxConcurrentStreams: self.maxConcurrentStreams, extendedConnect: self.extendedConnect)
            server.answer = self.answer
            self.connections.append((tls, server))
            self.acceptedCount += 1
            tls.onRead = { [weak self, weak server] event in
                switch event {
                case .data(let buffer):
                    let bytes = buffer.bytes
                    loop.buffers.give(buffer)
                    if self?.muted == false { server?.receive(bytes) }
                case .eof, .error:
                    self?.drop(tls)
                }
            }
            tls.startReading()
            if self.goAwayAtOnce { server.goAway(lastStreamID: 0) }
            if !self.muted { server.flush() }  // muted: not even SETTINGS
        }
    }

    private func drop(_ tls: TLSStream) {
        guard connections.contains(where: { $0.tls === tls }) else { return }
        connections.removeAll { $0.tls === tls }
        closedCount += 1
        tls.close()
    }

    /// Writes raw bytes on every connection, as a hostile gateway would.
    func sendRaw(_ bytes: [UInt8]) {
        for connection in connections { connection.tls.write(loop.buffers.buffers(copying: bytes)) { _ in } }
    }

    /// Hangs up on every client at once (TCP close, no GOAWAY).
    func dropAll() {
        for connection in connections { drop(connection.tls) }
    }

    func close() {
        listener?.close()
        listener = nil
        delays.forEach { $0.timer.close(); $0.socket.close() }
        delays.removeAll()
        dropAll()
    }
}
