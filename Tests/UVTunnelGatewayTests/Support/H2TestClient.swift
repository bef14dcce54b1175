import CShims
import UVTunnel

/// The client side of one HTTP/2 connection to a gateway, for tests, on
/// nghttp2 itself (H2TestPeer) over a real TLS connection (ALPN h2): opens
/// requests, records each stream's status, header fields, DATA, END_STREAM
/// and reset, and sends what a test queues on a stream.
final class H2TestClient: H2TestPeer {
    private let loop: EventLoop
    private var tls: TLSStream?
    private(set) var isConnected = false
    private(set) var isGone = false
    private(set) var negotiated: String?

    /// Connects to `address`, trusting `certificatePEM`, offering `protocols`.
    init(loop: EventLoop, address: SocketAddress, certificatePEM: String, protocols: [String] = ["h2"]) throws {
        self.loop = loop
        super.init(server: false)
        submitSettings([(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20)])

        var options = TLSClientOptions()
        options.extraCAPEM = certificatePEM
        options.alpnProtocols = protocols
        let socket = try UVStream.tcp(loop: loop)
        let tlsContext = try TLSContext.client(options)
        try socket.connect(to: address) { [weak self] error in
            guard let self, error == nil else { self?.isGone = true; return }
            guard let tls = try? TLSStream.client(socket: socket, context: tlsContext, serverName: "127.0.0.1", verifyName: false) else {
                self.isGone = true
                return socket.close()
            }
            self.tls = tls
            tls.handshake { [weak self] error in
                guard let self else { return }
                guard error == nil else { self.isGone = true; return }
                self.negotiated = tls.negotiatedProtocol
                self.isConnected = true
                self.output = { [weak self] bytes in
                    guard let self else { return }
                    tls.write(self.loop.buffers.buffers(copying: bytes)) { _ in }
                }
                tls.onRead = { [weak self] event in
                    guard let self else { return }
                    switch event {
                    case .data(let buffer):
                        let bytes = buffer.bytes
                        self.loop.buffers.give(buffer)
                        if self.parse(bytes) < 0 { self.isGone = true }
                        self.flush()
                    case .eof, .error:
                        self.isGone = true
                    }
                }
                tls.startReading()
                self.flush()
            }
        }
    }

    /// Opens a request with these header fields (pseudo-headers first); its
    /// DATA comes from what `send` queues (none for a GET). Returns the stream id.
    @discardableResult
    func request(_ fields: [(String, String)]) -> Int32 {
        submitRequest(fields, body: fields.first { $0.0 == ":method" }?.1 != "GET")
    }

    /// A CONNECT for `authority`, with `Authorization: Pomerium <token>` when given.
    @discardableResult
    func connect(_ authority: String, token: String?) -> Int32 {
        var fields = [(":method", "CONNECT"), (":authority", authority)]
        if let token { fields.append(("authorization", "Pomerium \(token)")) }
        return request(fields)
    }

    /// A connect-udp extended CONNECT (RFC 9298 over RFC 8441) to `host`:`port`.
    @discardableResult
    func connectUDP(host: String, port: UInt16, token: String?, path: String? = nil, protocolName: String = "connect-udp") -> Int32 {
        var fields = [(":method", "CONNECT"), (":protocol", protocolName), (":scheme", "https"),
                      (":path", path ?? "/.well-known/masque/udp/\(host)/\(port)/"), (":authority", "\(host):\(port)"),
                      ("capsule-protocol", "?1")]
        if let token { fields.append(("authorization", "Pomerium \(token)")) }
        return request(fields)
    }

    /// Bytes straight onto the TLS connection, past nghttp2 (a broken peer).
    func sendRaw(_ bytes: [UInt8]) {
        tls?.write(loop.buffers.buffers(copying: bytes)) { _ in }
    }

    func close() {
        output = nil
        tls?.close()
        tls = nil
        isGone = true
    }
}
