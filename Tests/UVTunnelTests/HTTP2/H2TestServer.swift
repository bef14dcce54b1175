import CShims
@testable import UVTunnel

/// The server side of an HTTP/2 connection for tests, on nghttp2 itself:
/// records each request's header fields, DATA, END_STREAM and RST_STREAM,
/// answers with `status` (or what `answer` says for the request's header
/// fields), and sends what a test queues on a stream. `receive` takes the
/// client's bytes; `send` carries the server's.
final class H2TestServer {
    final class Stream {
        let id: Int32
        var headers: [(String, String)] = []
        var received: [UInt8] = []
        var ended = false
        var resetCode: UInt32?
        var closed = false
        var outbound: [UInt8] = []
        /// How much of `outbound` went out already (no O(n) removeFirst per frame).
        var sent = 0
        var endAfterOutbound = false
        /// Which `receive` (the server's transport reads, counted from 1)
        /// brought the request's HEADERS, and the first DATA.
        var headersReceive = 0
        var firstDataReceive: Int?
        init(id: Int32) { self.id = id }
    }

    private var raw: OpaquePointer?
    private let sendBytes: ([UInt8]) -> Void
    private let context: Unmanaged<H2TestServer.Box>
    var status = 200
    /// When set, decides each request's status from its header fields (0: no answer).
    var answer: (([(String, String)]) -> Int)?
    private(set) var streams: [Int32: Stream] = [:]
    /// Stream ids in the order their requests arrived.
    private(set) var order: [Int32] = []
    /// True: DATA is consumed (the client's window reopens) only when the test says so.
    var holdWindows = false
    /// The error code of the client's GOAWAY, once it came.
    private(set) var goAwayCode: UInt32?
    /// Calls of `receive` so far: the client's writes as the server read them.
    private(set) var receives = 0

    final class Box { weak var server: H2TestServer? }

    /// On one end of a MemoryStreamPair (the client session has the other).
    convenience init(end: MemoryStream, loop: EventLoop, maxConcurrentStreams: UInt32 = 100, extendedConnect: Bool = false) {
        self.init(send: { [weak end] bytes in end?.write(loop.buffers.buffers(copying: bytes)) { _ in } },
                  maxConcurrentStreams: maxConcurrentStreams, extendedConnect: extendedConnect)
        end.onRead = { [weak self] event in
            guard case .data(let buffer) = event else { return }
            let bytes = buffer.bytes
            loop.buffers.give(buffer)
            self?.receive(bytes)
        }
        end.startReading()
        flush()
    }

    /// `extendedConnect`: announce SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441).
    init(send: @escaping ([UInt8]) -> Void, maxConcurrentStreams: UInt32 = 100, extendedConnect: Bool = false) {
        sendBytes = send
        let box = Box()
        context = Unmanaged.passRetained(box)
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let server = testServer(userData), let frame else { return 0 }
            let id = frame.pointee.hd.stream_id
            let stream = Stream(id: id)
            stream.headersReceive = server.receives
            server.streams[id] = stream
            server.order.append(id)
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let server = testServer(userData), let frame, let name, let value else { return 0 }
            server.streams[frame.pointee.hd.stream_id]?.headers.append((
                String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
                String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)))
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let server = testServer(userData), let frame else { return 0 }
            let header = frame.pointee.hd
            if header.type == UInt8(NGHTTP2_GOAWAY.rawValue) { server.goAwayCode = frame.pointee.goaway.error_code }
            guard let stream = server.streams[header.stream_id] else { return 0 }
            if header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 { stream.ended = true }
            if header.type == UInt8(NGHTTP2_HEADERS.rawValue) && frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
                server.respond(stream)
            }
            if header.type == UInt8(NGHTTP2_RST_STREAM.rawValue) { stream.resetCode = frame.pointee.rst_stream.error_code }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, userData in
            guard let server = testServer(userData), let data, let stream = server.streams[id] else { return 0 }
            if stream.firstDataReceive == nil { stream.firstDataReceive = server.receives }
            stream.received += UnsafeBufferPointer(start: data, count: length)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, _, userData in
            testServer(userData)?.streams[id]?.closed = true
            return 0
        }
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_session_server_new2(&raw, callbacks, context.toOpaque(), option)
        nghttp2_option_del(option)
        nghttp2_session_callbacks_del(callbacks)
        box.server = self
        var entries = [nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                                              value: maxConcurrentStreams)]
        if extendedConnect {
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL.rawValue), value: 1))
        }
        nghttp2_submit_settings(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
    }

    deinit {
        nghttp2_session_del(raw)
        context.release()
    }

    func receive(_ bytes: [UInt8]) {
        receives += 1
        let n = bytes.withUnsafeBufferPointer { nghttp2_session_mem_recv(raw, $0.baseAddress, $0.count) }
        precondition(n == bytes.count, "the client sent bad HTTP/2: \(String(cString: nghttp2_strerror(Int32(n))))")
        if !holdWindows {
            for stream in streams.values where !stream.received.isEmpty { consumeAll(stream) }
        }
        flush()
    }

    private var consumed: [Int32: Int] = [:]

    /// Opens the client's window for everything received on `stream` so far.
    func consumeAll(_ stream: Stream) {
        let done = consumed[stream.id] ?? 0
        guard stream.received.count > done else { return }
        nghttp2_session_consume(raw, stream.id, stream.received.count - done)
        consumed[stream.id] = stream.received.count
        flush()
    }

    private func respond(_ stream: Stream) {
        let status = answer?(stream.headers) ?? self.status
        guard status > 0 else { return }  // 0: leave the request unanswered
        let text = Array(":status".utf8), value = Array(String(status).utf8)
        var provider = nghttp2_data_provider()
        provider.read_callback = { _, id, buffer, length, flags, _, userData in
            guard let server = testServer(userData), let stream = server.streams[id], let buffer, let flags else {
                return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
            }
            let n = min(length, stream.outbound.count - stream.sent)
            stream.outbound.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress! + stream.sent, count: n) }
            stream.sent += n
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
        text.withUnsafeBufferPointer { name in
            value.withUnsafeBufferPointer { value in
                var field = nghttp2_nv(name: UnsafeMutablePointer(mutating: name.baseAddress!), value: UnsafeMutablePointer(mutating: value.baseAddress!),
                                       namelen: name.count, valuelen: value.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
                if status == 200 {
                    _ = nghttp2_submit_response(raw, stream.id, &field, 1, &provider)
                } else {
                    _ = nghttp2_submit_response(raw, stream.id, &field, 1, nil)
                }
            }
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

    /// GOAWAY (NO_ERROR by default): streams above `lastStreamID` were not processed.
    func goAway(lastStreamID: Int32, code: UInt32 = NGHTTP2_NO_ERROR.rawValue) {
        nghttp2_submit_goaway(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), lastStreamID, code, nil, 0)
        flush()
    }

    /// Sends SETTINGS_INITIAL_WINDOW_SIZE: what each stream of the client may send unasked.
    func setInitialWindow(_ size: UInt32) {
        var entry = nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: size)
        nghttp2_submit_settings(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entry, 1)
        flush()
    }

    /// What the client's connection window still lets this side send.
    var connectionSendWindow: Int32 { nghttp2_session_get_remote_window_size(raw) }

    func reset(_ id: Int32, code: UInt32) {
        nghttp2_submit_rst_stream(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, code)
        flush()
    }

    /// The client's window on a stream as this side sees it (what it may still send).
    func sendWindow(_ id: Int32) -> Int32 { nghttp2_session_get_stream_remote_window_size(raw, id) }

    func flush() {
        while true {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(raw, &data)
            guard n > 0, let data else { return }
            sendBytes(Array(UnsafeBufferPointer(start: data, count: n)))
        }
    }
}

private func testServer(_ userData: UnsafeMutableRawPointer?) -> H2TestServer? {
    guard let userData else { return nil }
    return Unmanaged<H2TestServer.Box>.fromOpaque(userData).takeUnretainedValue().server
}
