import CShims
import Logging
import UVTunnel

/// Owns one `nghttp2_session` (server side) over one TLS connection that chose
/// ALPN h2: each stream is a CONNECT, a connect-udp extended CONNECT (or a
/// sign-in page GET) handled by a
/// `GatewayH2Stream`. nghttp2 never touches a socket: transport reads go to
/// `nghttp2_session_mem_recv`, `mem_send` is drained into transport writes.
/// nghttp2's callbacks only record; the streams act once it has returned
/// (`settle`), so no stream calls back into nghttp2 from inside it.
///
/// The transport is read all the time: a stream's window (not the
/// connection's) is what holds a client back when its target is slow.
final class GatewayH2Session: H2DataSession {
    /// Flow control and concurrency the gateway offers in its SETTINGS.
    struct Limits {
        /// SETTINGS_MAX_CONCURRENT_STREAMS: clients cap themselves lower (100).
        var maxStreams: UInt32 = 1000
        /// Each stream's receive window: what the gateway holds at most for a
        /// target that does not read, and what one bulk upload has in flight.
        var streamWindow: Int32 = 1 << 20
        /// The connection's receive window; consumed on arrival (only streams wait).
        var connectionWindow: Int32 = 16 << 20
        /// A target's bytes queued toward the client before its reads pause.
        var outboundLimit = 256 * 1024
    }

    /// nghttp2's user data: retained until the nghttp2 session is freed,
    /// pointing weakly at its owner.
    final class CallbackContext: H2CallbackContext {
        weak var session: GatewayH2Session? { didSet { dataSession = session } }
    }

    let id: Int
    let loop: EventLoop
    /// The server's, kept current (a SIGHUP policy judges new streams too).
    var options: GatewayOptions
    let limits: Limits
    let logger: Logger
    private let transport: ByteStream
    private var raw: OpaquePointer?
    private let context: Unmanaged<CallbackContext>
    private var streams: [Int32: GatewayH2Stream] = [:]
    /// Streams something happened to inside nghttp2, in order.
    private var touched: [GatewayH2Stream] = []
    private var isWriting = false
    /// The transport read `mem_recv` is parsing, which one DATA payload may
    /// keep instead of a copy.
    private let inbound: H2InboundRead
    /// The next transport write, gathered from `mem_send` (control frames,
    /// copied) and `sendData` (DATA: the streams' own buffers, moved, or
    /// short payloads copied, so many streams' frames share TLS records).
    private var outgoing: [Buffer] = []
    private var outgoingBytes = 0
    private var isPumping = false
    private var pumpAgain = false
    /// The next-turn pump of a full read (`transportRead`) and of target
    /// reads (`resume`), made when first needed.
    private lazy var soon = NextTurn(loop: loop)
    private(set) var isClosed = false
    /// Each stream's answer (the server counts them as it counts HTTP/1.1's).
    var onAnswered: ((Int) -> Void)?
    private var onClosed: ((GatewayH2Session) -> Void)?

    var openStreams: Int { streams.count }

    /// The longest DATA frame we send (nghttp2 also keeps within the windows
    /// and the client's SETTINGS_MAX_FRAME_SIZE): four pool buffers, as one
    /// transport write gathers at most (`writeBudget`). Frames longer than
    /// the receiver's reads make most reads one payload, which it keeps
    /// whole (one buffer, one local write, no copy); a bulk stream's frame
    /// delays the connection's other streams by one write at most.
    var frameLengthLimit: Int { 4 * loop.buffers.bufferSize }
    /// SETTINGS_MAX_FRAME_SIZE we offer (default 16 KiB): the client may
    /// send DATA frames of whole buffers too; nghttp2 hands us a frame's
    /// payload in chunks as it arrives, so a long frame costs no memory.
    static let maxFrameSize: UInt32 = 1 << 18
    /// Bytes gathered for one transport write before nghttp2 is asked to stop.
    static let writeBudget = 256 * 1024

    init(id: Int, transport: ByteStream, loop: EventLoop, options: GatewayOptions, limits: Limits = Limits(),
         logger: Logger, onClosed: @escaping (GatewayH2Session) -> Void) {
        self.id = id
        self.transport = transport
        self.loop = loop
        self.options = options
        self.limits = limits
        var logger = logger
        logger[metadataKey: "connection"] = "\(id)"
        self.logger = logger
        self.onClosed = onClosed
        inbound = H2InboundRead(pool: loop.buffers)
        let box = CallbackContext()
        context = Unmanaged.passRetained(box)
        raw = GatewayH2Callbacks.makeServerSession(userData: context.toOpaque())
        box.session = self
    }

    deinit {
        if let raw { nghttp2_session_del(raw) }
        context.release()
    }

    /// Sends our SETTINGS and starts reading the client's preface.
    func start() {
        guard let raw else { return finish("cannot create an HTTP/2 session (out of memory)") }
        logger.info("HTTP/2 connection opened")
        var entries = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: limits.maxStreams),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(limits.streamWindow)),
            // RFC 8441: extended CONNECT, for connect-udp streams (GatewayH2Stream+UDP.swift).
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL.rawValue), value: 1),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: GatewayH2Session.maxFrameSize),
        ]
        _ = nghttp2_submit_settings(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        _ = nghttp2_session_set_local_window_size(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, limits.connectionWindow)
        transport.onRead = { [weak self] event in self?.transportRead(event) }
        transport.startReading()
        pump()
    }

    // MARK: From nghttp2 (inside mem_recv / mem_send: record only)

    func requestBegan(_ streamID: Int32) {
        let stream = GatewayH2Stream(id: streamID, session: self)
        streams[streamID] = stream
        touch(stream)
    }

    func stream(_ id: Int32) -> GatewayH2Stream? { streams[id] }

    func touch(_ stream: GatewayH2Stream) {
        guard !stream.isTouched else { return }
        stream.isTouched = true
        touched.append(stream)
    }

    func dataArrived(_ bytes: UnsafeRawBufferPointer, on id: Int32) {
        // The connection's window opens at once: only the stream's waits for its target.
        if let raw { _ = nghttp2_session_consume_connection(raw, bytes.count) }
        guard let stream = streams[id] else { return }
        stream.received(bytes) { inbound.adopt(bytes) }
        touch(stream)
    }

    /// A DATA frame nghttp2 framed without copying: its 9-byte header, then
    /// `length` bytes the stream moves from its queue (a short payload is
    /// copied behind the header: `H2OutboundQueue.take`), join the next write.
    /// Past the write's budget, nghttp2 stops (PAUSE) so one write stays bounded.
    func sendData(streamID: Int32, header: UnsafeRawBufferPointer, length: Int) -> Int32 {
        // Not what the DATA source promised: nothing of the frame goes, and
        // nghttp2 resets the stream.
        guard let stream = streams[streamID], stream.outboundBytes >= length else {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
        }
        loop.buffers.append(copying: header, to: &outgoing)
        stream.take(length, into: &outgoing)
        outgoingBytes += header.count + length
        return outgoingBytes >= GatewayH2Session.writeBudget ? NGHTTP2_ERR_PAUSE.rawValue : 0
    }

    func streamClosed(_ id: Int32, code: UInt32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        stream.protocolClosed(code: code)
        touch(stream)
    }

    // MARK: From the streams (outside nghttp2)

    /// `body`: the stream's DATA source follows (a tunnel's relay, or an answer's body).
    func respond(_ stream: GatewayH2Stream, status: Int, headers: [(String, String)], body: Bool) {
        guard let raw, streams[stream.id] === stream else { return }
        let result = GatewayH2Callbacks.submitResponse(raw, streamID: stream.id, status: status, headers: headers, body: body)
        if result != 0 { reset(stream, code: NGHTTP2_INTERNAL_ERROR.rawValue) }
        pump()
    }

    /// The stream queued bytes or its source ended: DATA may go. A target's
    /// read sends nothing itself: the DATA of every target read in one loop
    /// turn leaves on the next in one transport write (few TLS records, one
    /// syscall), not one write per target read, as the client batches its
    /// tunnels' writes.
    func resume(_ stream: GatewayH2Stream) {
        guard let raw, streams[stream.id] === stream else { return }
        _ = nghttp2_session_resume_data(raw, stream.id)
        if isPumping { pump() } else { pumpNextTurn() }
    }

    /// The target took `count` of the client's bytes: the client may send that many more.
    func consumed(_ count: Int, on stream: GatewayH2Stream) {
        guard let raw, count > 0, streams[stream.id] === stream else { return }
        _ = nghttp2_session_consume_stream(raw, stream.id, count)
        pump()
    }

    func reset(_ stream: GatewayH2Stream, code: UInt32) {
        guard let raw, streams[stream.id] === stream else { return }
        _ = nghttp2_submit_rst_stream(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, code)
        pump()
    }

    // MARK: The transport

    private func transportRead(_ event: ReadEvent) {
        switch event {
        case .data(let buffer):
            // A full read is seldom the last of its drain (TLS fills a buffer
            // before it starts the next): the streams act on the read that
            // ends the drain, or next turn, so a stream's payloads of one
            // socket read reach its target as one write, not one per buffer.
            let moreMayFollow = buffer.freeSpace == 0
            let result = inbound.parse(buffer, by: raw)
            if result < 0 {
                return finish("HTTP/2 protocol error from the client: \(String(cString: nghttp2_strerror(Int32(result))))")
            }
            if moreMayFollow { pumpNextTurn() } else { pump() }
        case .eof:
            // What came before the end goes to the targets first.
            pump()
            finish(nil)
        case .error(let error):
            pump()
            finish(error.message)
        }
    }

    private func pumpNextTurn() {
        guard !isClosed else { return }
        soon.arm { [weak self] in self?.pump() }
    }

    /// Sends what nghttp2 has to send and lets the touched streams act, until
    /// neither has anything left. Nested calls (a stream acting inside
    /// `settle`) only ask for another round.
    private func pump() {
        guard !isClosed else { return }
        guard !isPumping else {
            pumpAgain = true
            return
        }
        isPumping = true
        repeat {
            pumpAgain = false
            settle()
            sendFrames()
        } while (pumpAgain || !touched.isEmpty) && !isClosed
        isPumping = false
        guard !isClosed, let raw else { return }
        if nghttp2_session_want_read(raw) == 0 && nghttp2_session_want_write(raw) == 0 && !isWriting {
            finish(nil)
        }
    }

    private func settle() {
        while !touched.isEmpty && !isClosed {
            let batch = touched
            touched.removeAll(keepingCapacity: true)
            for stream in batch {
                stream.isTouched = false
                stream.act()
            }
        }
    }

    /// Drains `mem_send` into pool buffers and one transport write per round:
    /// frames of many streams share TLS records and a syscall. While a write
    /// is queued nothing more is taken, so a slow client stops the streams'
    /// DATA sources, whose queues then pause their targets' reads.
    private func sendFrames() {
        guard let raw else { return }
        while !isWriting && !isClosed {
            while outgoingBytes < GatewayH2Session.writeBudget {
                var data: UnsafePointer<UInt8>?
                let n = nghttp2_session_mem_send(raw, &data)
                if n < 0 {
                    outgoing.forEach { loop.buffers.give($0) }
                    outgoing.removeAll()
                    outgoingBytes = 0
                    return finish("HTTP/2 session error: \(String(cString: nghttp2_strerror(Int32(n))))")
                }
                // 0: nothing more, or a DATA frame paused it past the budget.
                guard n > 0, let data else { break }
                loop.buffers.append(copying: UnsafeRawBufferPointer(start: data, count: n), to: &outgoing)
                outgoingBytes += n
            }
            let chunks = outgoing
            outgoing = []
            outgoingBytes = 0
            guard !chunks.isEmpty else { return }
            let flushed = transport.writeNow(chunks) { [weak self] error in
                guard let self, !self.isClosed else { return }
                self.isWriting = false
                if let error { return self.finish(error.message) }
                self.pump()
            }
            if !flushed { isWriting = true }
        }
    }

    // MARK: Ending

    /// Gateway shutdown: GOAWAY, then every stream and the transport close.
    func close(_ reason: String) {
        guard !isClosed, let raw else { return }
        _ = nghttp2_session_terminate_session(raw, NGHTTP2_NO_ERROR.rawValue)
        sendFrames()
        finish(reason)
    }

    /// The one way out: every stream's target closes, then the transport.
    private func finish(_ reason: String?) {
        guard !isClosed else { return }
        isClosed = true
        soon.close()
        if let reason { logger.debug("HTTP/2 connection closed: \(reason)") }
        let open = streams.values.sorted { $0.id < $1.id } + touched
        streams.removeAll()
        touched.removeAll()
        for stream in open { stream.abort() }
        transport.onRead = nil
        transport.close()
        let done = onClosed
        onClosed = nil
        onAnswered = nil
        done?(self)
    }
}
