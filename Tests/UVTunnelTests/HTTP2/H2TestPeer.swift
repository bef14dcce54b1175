import CShims

// What the tests' two HTTP/2 peers share: H2TestServer (the client's tests)
// and H2TestClient (the gateway's tests). This file is compiled into both
// test modules: UVTunnelGatewayTests/Support/H2TestPeer.swift is a symlink to
// it, as HTTPResponseTestSupport.swift is.

/// One stream as a test peer sees it: what came in, and what the test queued.
final class H2TestStream {
    let id: Int32
    /// The response's :status (on the client side; kept out of `headers`).
    var status: Int?
    /// Header fields in arrival order (a request's pseudo-headers included).
    var headers: [(String, String)] = []
    var received: [UInt8] = []
    var ended = false
    var resetCode: UInt32?
    var closed = false
    var outbound: [UInt8] = []
    /// How much of `outbound` went out already (no O(n) removeFirst per frame).
    var sent = 0
    /// Every byte sent on the stream so far (`outbound` is emptied once sent).
    var sentTotal = 0
    var endAfterOutbound = false
    /// Which `parse` (the peer's transport reads, counted from 1) brought
    /// the HEADERS that opened the stream, and its first DATA.
    var headersReceive = 0
    var firstDataReceive: Int?
    init(id: Int32) { self.id = id }
}

/// An nghttp2 session of either side that records every stream and sends
/// what a test queues. Subclasses connect it to a transport through `output`
/// and `parse`, and answer requests in `requestArrived`.
class H2TestPeer {
    final class Box { weak var peer: H2TestPeer? }

    private var raw: OpaquePointer?
    private let context: Unmanaged<Box>
    private let isServer: Bool
    private(set) var streams: [Int32: H2TestStream] = [:]
    /// Stream ids in the order they opened.
    private(set) var order: [Int32] = []
    /// The error code of the other side's GOAWAY, once it came.
    private(set) var goAwayCode: UInt32?
    /// Calls of `parse` so far: the other side's writes as this side read them.
    private(set) var receives = 0
    /// Where nghttp2's frames go; while nil they wait in the session.
    var output: (([UInt8]) -> Void)?

    /// `manualWindows`: DATA reopens the other side's window only through `consume`.
    init(server: Bool, manualWindows: Bool = false) {
        isServer = server
        let box = Box()
        context = Unmanaged.passRetained(box)
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let peer = testPeer(userData), let frame else { return 0 }
            peer.opened(frame.pointee.hd.stream_id)
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let peer = testPeer(userData), let frame, let name, let value,
                  let stream = peer.streams[frame.pointee.hd.stream_id] else { return 0 }
            let field = (String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
                         String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
            if !peer.isServer && field.0 == ":status" { stream.status = Int(field.1) } else { stream.headers.append(field) }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let peer = testPeer(userData), let frame else { return 0 }
            let header = frame.pointee.hd
            if header.type == UInt8(NGHTTP2_GOAWAY.rawValue) { peer.goAwayCode = frame.pointee.goaway.error_code }
            guard let stream = peer.streams[header.stream_id] else { return 0 }
            if header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 { stream.ended = true }
            if header.type == UInt8(NGHTTP2_RST_STREAM.rawValue) { stream.resetCode = frame.pointee.rst_stream.error_code }
            if header.type == UInt8(NGHTTP2_HEADERS.rawValue) && frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
                peer.requestArrived(stream)
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, userData in
            guard let peer = testPeer(userData), let data, let stream = peer.streams[id] else { return 0 }
            if stream.firstDataReceive == nil { stream.firstDataReceive = peer.receives }
            stream.received += UnsafeBufferPointer(start: data, count: length)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, _, userData in
            testPeer(userData)?.streams[id]?.closed = true
            return 0
        }
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        nghttp2_option_set_no_auto_window_update(option, manualWindows ? 1 : 0)
        if server {
            nghttp2_session_server_new2(&raw, callbacks, context.toOpaque(), option)
        } else {
            nghttp2_session_client_new2(&raw, callbacks, context.toOpaque(), option)
        }
        nghttp2_option_del(option)
        nghttp2_session_callbacks_del(callbacks)
        precondition(raw != nil, "nghttp2 could not make a session")
        box.peer = self
    }

    deinit {
        nghttp2_session_del(raw)
        context.release()
    }

    private func opened(_ id: Int32) {
        guard streams[id] == nil else { return }  // a response's HEADERS on the client's own stream
        let stream = H2TestStream(id: id)
        stream.headersReceive = receives
        streams[id] = stream
        order.append(id)
    }

    /// A request's HEADERS came in complete (the server side answers here).
    func requestArrived(_ stream: H2TestStream) {}

    /// Feeds bytes from the other side to the session; negative is nghttp2's error.
    func parse(_ bytes: [UInt8]) -> Int {
        receives += 1
        return bytes.withUnsafeBufferPointer { nghttp2_session_mem_recv(raw, $0.baseAddress, $0.count) }
    }

    /// Hands every frame the session holds to `output`.
    func flush() {
        guard let output else { return }
        while true {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(raw, &data)
            guard n > 0, let data else { return }
            output(Array(UnsafeBufferPointer(start: data, count: n)))
        }
    }

    /// Queues SETTINGS; they go out at the next `flush`.
    func submitSettings(_ settings: [(nghttp2_settings_id, UInt32)]) {
        var entries = settings.map { nghttp2_settings_entry(settings_id: Int32($0.0.rawValue), value: $0.1) }
        nghttp2_submit_settings(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
    }

    /// Opens a request with these header fields (pseudo-headers first); with
    /// `body`, its DATA comes from what `send` queues. Returns the stream id.
    func submitRequest(_ fields: [(String, String)], body: Bool) -> Int32 {
        var provider = Self.outboundProvider
        let id = withHeaderFields(fields) { nva in
            body ? nghttp2_submit_request(raw, nil, nva, nva.count, &provider, nil)
                 : nghttp2_submit_request(raw, nil, nva, nva.count, nil, nil)
        }
        precondition(id > 0, "nghttp2 refused the request: \(id)")
        opened(id)
        flush()
        return id
    }

    /// Answers a request with `status` and these fields; with `body`, DATA
    /// comes from what `send` queues on the stream. No flush: this is called
    /// from inside nghttp2's callbacks, where sending is not allowed; the
    /// transport read's own flush sends it.
    func submitResponse(_ id: Int32, status: Int, _ fields: [(String, String)] = [], body: Bool) {
        var provider = Self.outboundProvider
        _ = withHeaderFields([(":status", String(status))] + fields) { nva in
            body ? nghttp2_submit_response(raw, id, nva, nva.count, &provider)
                 : nghttp2_submit_response(raw, id, nva, nva.count, nil)
        }
    }

    /// Queues `bytes` on the stream (and END_STREAM after them with `end`).
    func send(_ bytes: [UInt8], on id: Int32, end: Bool = false) {
        guard let stream = streams[id] else { return }
        stream.outbound += bytes
        stream.endAfterOutbound = end
        nghttp2_session_resume_data(raw, id)
        flush()
    }

    func reset(_ id: Int32, code: UInt32 = NGHTTP2_CANCEL.rawValue) {
        nghttp2_submit_rst_stream(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, code)
        flush()
    }

    /// GOAWAY (NO_ERROR by default): streams above `lastStreamID` were not processed.
    func goAway(lastStreamID: Int32, code: UInt32 = NGHTTP2_NO_ERROR.rawValue) {
        nghttp2_submit_goaway(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), lastStreamID, code, nil, 0)
        flush()
    }

    /// Reopens the other side's window by `count` bytes taken from the stream.
    func consume(_ count: Int, on id: Int32) {
        nghttp2_session_consume(raw, id, count)
        flush()
    }

    /// What this side may still send on the stream (the other side's window for it).
    func sendWindow(_ id: Int32) -> Int32 { nghttp2_session_get_stream_remote_window_size(raw, id) }

    /// What the other side's connection window still lets this side send.
    var connectionSendWindow: Int32 { nghttp2_session_get_remote_window_size(raw) }

    /// The other side's value of a SETTINGS parameter (once its SETTINGS arrived).
    func remoteSetting(_ id: nghttp2_settings_id) -> UInt32 { nghttp2_session_get_remote_settings(raw, id) }

    /// DATA from the stream's `outbound`, deferred while it is empty, and
    /// END_STREAM once it is sent out and the test asked for the end.
    private static var outboundProvider: nghttp2_data_provider {
        var provider = nghttp2_data_provider()
        provider.read_callback = { _, id, buffer, length, flags, _, userData in
            guard let peer = testPeer(userData), let stream = peer.streams[id], let buffer, let flags else {
                return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
            }
            let n = min(length, stream.outbound.count - stream.sent)
            stream.outbound.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress! + stream.sent, count: n) }
            stream.sent += n
            stream.sentTotal += n
            if stream.sent == stream.outbound.count {
                stream.outbound.removeAll()
                stream.sent = 0
            }
            if stream.outbound.isEmpty && stream.endAfterOutbound {
                flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                return n
            }
            return n > 0 ? n : Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return provider
    }
}

/// Header fields as nghttp2 takes them, in memory that lives through `body`
/// (nghttp2 copies them before the submit call returns).
func withHeaderFields<Result>(_ fields: [(String, String)], _ body: ([nghttp2_nv]) -> Result) -> Result {
    let storage = fields.flatMap { [Array($0.0.utf8), Array($0.1.utf8)] }
    let pointers = storage.map { bytes -> UnsafeMutablePointer<UInt8> in
        let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        pointer.initialize(from: bytes, count: bytes.count)
        return pointer
    }
    defer { pointers.forEach { $0.deallocate() } }
    let nva = fields.indices.map { i in
        nghttp2_nv(name: pointers[2 * i], value: pointers[2 * i + 1], namelen: storage[2 * i].count,
                   valuelen: storage[2 * i + 1].count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
    }
    return body(nva)
}

private func testPeer(_ userData: UnsafeMutableRawPointer?) -> H2TestPeer? {
    guard let userData else { return nil }
    return Unmanaged<H2TestPeer.Box>.fromOpaque(userData).takeUnretainedValue().peer
}
