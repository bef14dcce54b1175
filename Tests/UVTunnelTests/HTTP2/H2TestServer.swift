import CShims
@testable import UVTunnel

/// The server side of an HTTP/2 connection for tests, on nghttp2 itself
/// (H2TestPeer): records each request's header fields, DATA, END_STREAM and
/// RST_STREAM, answers with `status` (or what `answer` says for the
/// request's header fields), and sends what a test queues on a stream.
/// `receive` takes the client's bytes; `send` carries the server's.
final class H2TestServer: H2TestPeer {
    var status = 200
    /// When set, decides each request's status from its header fields (0: no answer).
    var answer: (([(String, String)]) -> Int)?
    /// True: DATA is consumed (the client's window reopens) only when the test says so.
    var holdWindows = false
    /// How much of each stream's DATA reopened the client's window so far.
    private var consumed: [Int32: Int] = [:]

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
        super.init(server: true, manualWindows: true)
        output = send
        var settings = [(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, maxConcurrentStreams)]
        if extendedConnect { settings.append((NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1)) }
        submitSettings(settings)
    }

    func receive(_ bytes: [UInt8]) {
        let n = parse(bytes)
        precondition(n == bytes.count, "the client sent bad HTTP/2: \(String(cString: nghttp2_strerror(Int32(n))))")
        if !holdWindows {
            for stream in streams.values where !stream.received.isEmpty { consumeAll(stream) }
        }
        flush()
    }

    /// Opens the client's window for everything received on `stream` so far.
    func consumeAll(_ stream: H2TestStream) {
        let done = consumed[stream.id] ?? 0
        guard stream.received.count > done else { return }
        consume(stream.received.count - done, on: stream.id)
        consumed[stream.id] = stream.received.count
    }

    override func requestArrived(_ stream: H2TestStream) {
        let status = answer?(stream.headers) ?? self.status
        guard status > 0 else { return }  // 0: leave the request unanswered
        submitResponse(stream.id, status: status, body: status == 200)
    }

    /// Sends SETTINGS_INITIAL_WINDOW_SIZE: what each stream of the client may send unasked.
    func setInitialWindow(_ size: UInt32) {
        submitSettings([(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, size)])
        flush()
    }
}
