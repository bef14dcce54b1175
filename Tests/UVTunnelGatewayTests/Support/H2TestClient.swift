import CShims
import UVTunnel

/// The client side of one HTTP/2 connection to a gateway, for tests, on
/// nghttp2 itself over a real TLS connection (ALPN h2): opens requests,
/// records each stream's status, header fields, DATA, END_STREAM and reset,
/// and sends what a test queues on a stream.
final class H2TestClient {
    final class Stream {
        let id: Int32
        var status: Int?
        var headers: [(String, String)] = []
        var received: [UInt8] = []
        var ended = false
        var resetCode: UInt32?
        var closed = false
        var outbound: [UInt8] = []
        /// How much of `outbound` went out already.
        var sent = 0
        var endAfterOutbound = false
        init(id: Int32) { self.id = id }
    }

    final class Box { weak var client: H2TestClient? }

    private let loop: EventLoop
    private var tls: TLSStream?
    private var raw: OpaquePointer?
    private let context: Unmanaged<Box>
    private(set) var streams: [Int32: Stream] = [:]
    private(set) var isConnected = false
    private(set) var isGone = false
    private(set) var negotiated: String?

    /// Connects to `address`, trusting `certificatePEM`, offering `protocols`.
    init(loop: EventLoop, address: SocketAddress, certificatePEM: String, protocols: [String] = ["h2"]) throws {
        self.loop = loop
        let box = Box()
        context = Unmanaged.passRetained(box)
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let client = testClient(userData), let frame, let name, let value,
                  let stream = client.streams[frame.pointee.hd.stream_id] else { return 0 }
            let field = (String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
                         String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
            if field.0 == ":status" { stream.status = Int(field.1) } else { stream.headers.append(field) }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let client = testClient(userData), let frame, let stream = client.streams[frame.pointee.hd.stream_id] else { return 0 }
            if frame.pointee.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 { stream.ended = true }
            if frame.pointee.hd.type == UInt8(NGHTTP2_RST_STREAM.rawValue) { stream.resetCode = frame.pointee.rst_stream.error_code }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, userData in
            guard let client = testClient(userData), let data else { return 0 }
            client.streams[id]?.received += UnsafeBufferPointer(start: data, count: length)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, _, userData in
            testClient(userData)?.streams[id]?.closed = true
            return 0
        }
        nghttp2_session_client_new(&raw, callbacks, context.toOpaque())
        nghttp2_session_callbacks_del(callbacks)
        box.client = self
        var entries = [nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: 1 << 20)]
        nghttp2_submit_settings(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, 1)

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
                tls.onRead = { [weak self] event in
                    guard let self else { return }
                    switch event {
                    case .data(let buffer):
                        let bytes = buffer.bytes
                        self.loop.buffers.give(buffer)
                        let n = bytes.withUnsafeBufferPointer { nghttp2_session_mem_recv(self.raw, $0.baseAddress, $0.count) }
                        if n < 0 { self.isGone = true }
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

    deinit {
        nghttp2_session_del(raw)
        context.release()
    }

    /// Opens a request with these header fields (pseudo-headers first); its
    /// DATA comes from what `send` queues. Returns the stream id.
    @discardableResult
    func request(_ fields: [(String, String)]) -> Int32 {
        var storage: [[UInt8]] = []
        for (name, value) in fields { storage.append(Array(name.utf8)); storage.append(Array(value.utf8)) }
        var provider = nghttp2_data_provider()
        provider.read_callback = { _, id, buffer, length, flags, _, userData in
            guard let client = testClient(userData), let stream = client.streams[id], let buffer, let flags else {
                return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
            }
            let n = min(length, stream.outbound.count - stream.sent)
            stream.outbound.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress! + stream.sent, count: n) }
            stream.sent += n
            if stream.sent == stream.outbound.count && stream.endAfterOutbound {
                flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                return n
            }
            return n > 0 ? n : Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        let pointers = storage.map { bytes -> UnsafeMutablePointer<UInt8> in
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
            p.initialize(from: bytes, count: bytes.count)
            return p
        }
        defer { pointers.forEach { $0.deallocate() } }
        let nva = (0..<fields.count).map { i in
            nghttp2_nv(name: pointers[2 * i], value: pointers[2 * i + 1], namelen: storage[2 * i].count,
                       valuelen: storage[2 * i + 1].count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        }
        let method = fields.first { $0.0 == ":method" }?.1
        let id = method == "GET" ? nghttp2_submit_request(raw, nil, nva, nva.count, nil, nil)
                                 : nghttp2_submit_request(raw, nil, nva, nva.count, &provider, nil)
        precondition(id > 0, "nghttp2 refused the request: \(id)")
        streams[id] = Stream(id: id)
        flush()
        return id
    }

    /// A CONNECT for `authority`, with `Authorization: Pomerium <token>` when given.
    @discardableResult
    func connect(_ authority: String, token: String?) -> Int32 {
        var fields = [(":method", "CONNECT"), (":authority", authority)]
        if let token { fields.append(("authorization", "Pomerium \(token)")) }
        return request(fields)
    }

    /// Queues `bytes` on the stream (and END_STREAM after them with `end`).
    func send(_ bytes: [UInt8], on id: Int32, end: Bool = false) {
        guard let stream = streams[id] else { return }
        stream.outbound += bytes
        stream.endAfterOutbound = end
        nghttp2_session_resume_data(raw, id)
        flush()
    }

    /// Bytes straight onto the TLS connection, past nghttp2 (a broken peer).
    func sendRaw(_ bytes: [UInt8]) {
        tls?.write(loop.buffers.buffers(copying: bytes)) { _ in }
    }

    func reset(_ id: Int32) {
        nghttp2_submit_rst_stream(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_CANCEL.rawValue)
        flush()
    }

    /// The gateway's value of a SETTINGS parameter (once its SETTINGS arrived).
    func remoteSetting(_ id: nghttp2_settings_id) -> UInt32 { nghttp2_session_get_remote_settings(raw, id) }

    /// A connect-udp extended CONNECT (RFC 9298 over RFC 8441) to `host`:`port`.
    @discardableResult
    func connectUDP(host: String, port: UInt16, token: String?, path: String? = nil, protocolName: String = "connect-udp") -> Int32 {
        var fields = [(":method", "CONNECT"), (":protocol", protocolName), (":scheme", "https"),
                      (":path", path ?? "/.well-known/masque/udp/\(host)/\(port)/"), (":authority", "\(host):\(port)"),
                      ("capsule-protocol", "?1")]
        if let token { fields.append(("authorization", "Pomerium \(token)")) }
        return request(fields)
    }

    /// What this side may still send on the stream (the gateway's window for it).
    func sendWindow(_ id: Int32) -> Int32 { nghttp2_session_get_stream_remote_window_size(raw, id) }

    func close() {
        tls?.close()
        tls = nil
        isGone = true
    }

    private func flush() {
        guard let tls else { return }
        while true {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(raw, &data)
            guard n > 0, let data else { return }
            tls.write(loop.buffers.buffers(copying: Array(UnsafeBufferPointer(start: data, count: n)))) { _ in }
        }
    }
}

private func testClient(_ userData: UnsafeMutableRawPointer?) -> H2TestClient? {
    guard let userData else { return nil }
    return Unmanaged<H2TestClient.Box>.fromOpaque(userData).takeUnretainedValue().client
}
