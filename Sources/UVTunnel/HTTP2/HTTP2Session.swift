import CShims

/// Flow control and concurrency of the client side of one HTTP/2 connection.
public struct HTTP2Settings: Sendable {
    /// Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE): what one
    /// tunnel buffers at most when its local reader stops, and what one bulk
    /// stream can have in flight.
    public var streamWindow: Int32 = 1 << 20
    /// The connection's receive window: bytes in flight on the connection.
    public var connectionWindow: Int32 = 8 << 20
    /// Bytes all streams of one connection may hold for readers that have
    /// not taken them yet. Below it the connection's window reopens as
    /// bytes arrive (a stopped reader holds only its own stream's window,
    /// the others flow on); past it, only as readers take bytes, so one
    /// connection buffers at most this plus `connectionWindow`.
    public var inboundBudget = 16 << 20
    /// How long a closing connection waits for its GOAWAY to leave before
    /// the socket closes anyway (a peer that stopped reading).
    public var closeFlushMilliseconds: UInt64 = 1_000
    /// Bytes one stream queues toward the gateway before its writer pauses.
    /// Each pause stops and restarts the local socket's reads (two epoll_ctl
    /// and a wake-up more), and a bulk upload paused once per 128 KiB at
    /// 128 KiB: client CPU per GB 1.21x HTTP/1.1's, 1.07x at 512 KiB
    /// (perf/sections/http2.md). Still a bound: a stream whose gateway
    /// window is shut holds at most this.
    public var outboundLimit = 512 * 1024
    /// Streams at once on one connection (`--max-streams-per-connection`),
    /// never more than the server's SETTINGS_MAX_CONCURRENT_STREAMS.
    public var maxStreams = 100
    /// Whether a tunnel's first bytes go as DATA right behind its CONNECT's
    /// HEADERS, before the answer (`--no-early-data` turns it off for a
    /// gateway that drops such DATA). Read by `HTTP2Connector`, not the session.
    public var earlyData = true
    /// Connections one connector has open or being dialled at most; a
    /// tunnel that would need another fails (`HTTP2Failure.connectionLimit`).
    /// 256 x 100 streams is above what one process's 20,000 descriptors can
    /// hold, so the cap only bounds a hostile gateway's redials, never a
    /// load test (64 stopped 9,500 tunnels at 6,400).
    public var maxConnections = 256
    /// A connection silent this long gets a PING; silent twice as long, it is dead.
    public var pingIntervalMilliseconds: UInt64 = 15_000

    public init() {}
}

/// Owns one `nghttp2_session` (client side) over one transport stream, a TLS
/// connection that chose ALPN h2. nghttp2 never touches a socket: transport
/// reads are fed to `nghttp2_session_mem_recv`, and `nghttp2_session_mem_send`
/// is drained into transport writes. nghttp2's callbacks only record what
/// happened on the streams; the streams' consumers hear of it after nghttp2
/// has returned, so no consumer ever calls back into nghttp2 from inside it.
///
/// The transport is read all the time: a stream whose reader stops keeps its
/// own window closed (`nghttp2_session_consume_stream` only once its reader
/// took the bytes), never the connection's.
final class HTTP2Session: H2DataSession {
    /// The callbacks' way back to the session: retained by nghttp2's user
    /// data until the nghttp2 session is freed, pointing weakly at its owner.
    final class CallbackContext: H2CallbackContext {
        weak var session: HTTP2Session? { didSet { dataSession = session } }
    }

    let settings: HTTP2Settings
    /// The connector's number for this connection (log lines).
    let connectionID: Int
    private let loop: EventLoop
    private let transport: ByteStream
    private var raw: OpaquePointer?
    private let context: Unmanaged<CallbackContext>
    private var streams: [Int32: HTTP2Stream] = [:]
    /// Streams with something to tell their consumer, in the order it happened.
    private var eventful: [HTTP2Stream] = []
    /// Work for the next turn (`later`).
    private var deferred: [() -> Void] = []
    /// The transport read `mem_recv` is parsing, which one DATA payload may
    /// keep instead of a copy.
    private let inbound: H2InboundRead
    /// A transport write is queued: no more frames until it completes.
    private var isWriting = false
    /// The next transport write, gathered from `mem_send` (control frames,
    /// copied) and `sendData` (DATA: the streams' own buffers, moved, or
    /// short payloads copied, so many streams' frames share TLS records).
    private var outgoing: [Buffer] = []
    private var outgoingBytes = 0
    private var isPumping = false
    private var isStarted = false
    private var pumpAgain = false
    /// Next-turn delivery of stream events caused by a consumer's own call.
    private let soon: NextTurn
    /// A stream opened or closed since the connector last heard.
    private var streamsChanged = false
    private(set) var isGoingAway = false
    private(set) var isClosed = false
    /// The server's SETTINGS arrived: its stream limit is known, so streams
    /// may be opened without ever going over it.
    private(set) var isReady = false
    private var readyPending = false
    /// Something arrived from the gateway since the liveness check last asked.
    private var receivedSomething = false
    /// Bytes handed to streams and not yet taken by their readers.
    private(set) var bufferedInbound = 0
    /// Connection window held back while `bufferedInbound` is over the budget.
    private var owedConnectionWindow = 0
    /// The error code of a GOAWAY the gateway sent, or one nghttp2 sent for
    /// us on a protocol error: why a connection that ended "cleanly" ended.
    private var goAwayReceived: UInt32?
    private var goAwaySent: UInt32?
    /// The CONNECT requests' token and user-agent values, cleaned once.
    private var headerValues = HTTP2RequestHeaderValues()
    /// Streams the connection had open when it ended (lost with it).
    private(set) var streamsLostAtClose = 0

    /// A stream opened or closed (the connector's capacity changed).
    var onStreamsChanged: (() -> Void)?
    /// The server's first SETTINGS arrived (`isReady`).
    var onReady: (() -> Void)?
    /// The connection is gone: nil when closed on purpose, else why it failed.
    var onClosed: ((String?) -> Void)?

    var pool: BufferPool { loop.buffers }
    var openStreamCount: Int { streams.count }

    /// The longest DATA frame we send (nghttp2 also keeps within the windows
    /// and the gateway's SETTINGS_MAX_FRAME_SIZE): four pool buffers, as one
    /// transport write gathers at most (`writeBudget`). Frames longer than
    /// the receiver's reads make most reads one payload, which it keeps
    /// whole (one buffer, one local write, no copy); a bulk stream's frame
    /// delays the connection's other streams by one write at most.
    var frameLengthLimit: Int { 4 * pool.bufferSize }
    /// SETTINGS_MAX_FRAME_SIZE we offer (default 16 KiB): the gateway may
    /// send DATA frames of whole buffers too; nghttp2 hands us a frame's
    /// payload in chunks as it arrives, so a long frame costs no memory.
    static let maxFrameSize: UInt32 = 1 << 18

    /// How many streams this connection may carry at once now.
    var capacity: Int {
        guard let raw else { return 0 }
        let remote = nghttp2_session_get_remote_settings(raw, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
        return min(settings.maxStreams, Int(remote))
    }

    var canOpenStream: Bool { isReady && !isClosed && !isGoingAway && openStreamCount < capacity }

    /// The server announced SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): it
    /// takes extended CONNECT, so connect-udp can be a stream on this connection.
    var acceptsExtendedConnect: Bool {
        guard let raw, isReady else { return false }
        return nghttp2_session_get_remote_settings(raw, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1
    }

    /// Takes over `transport` (a TLS stream whose ALPN is h2), closing it if
    /// this throws; `start` sends the connection preface with our SETTINGS.
    init(transport: ByteStream, loop: EventLoop, settings: HTTP2Settings, connectionID: Int = 0) throws(HTTP2Failure) {
        self.transport = transport
        self.connectionID = connectionID
        self.loop = loop
        self.settings = settings
        soon = NextTurn(loop: loop)
        inbound = H2InboundRead(pool: loop.buffers)
        let box = CallbackContext()
        context = Unmanaged.passRetained(box)
        raw = HTTP2Callbacks.makeClientSession(userData: context.toOpaque())
        guard let raw else {
            soon.close()
            transport.close()
            throw .connectionLost("cannot create an HTTP/2 session (out of memory)")
        }
        box.session = self
        var entries = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                                   value: UInt32(settings.streamWindow)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                                   value: UInt32(HTTP2Stream.maxHeaderListSize)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: HTTP2Session.maxFrameSize),
        ]
        _ = nghttp2_submit_settings(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        _ = nghttp2_session_set_local_window_size(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindow)
    }

    /// Sends the preface and starts reading. Called once the owner set
    /// `onClosed` (and the rest): a transport that fails the first write at
    /// once closes the session in here, and someone must hear of it.
    func start() {
        guard !isClosed, !isStarted else { return }
        isStarted = true
        transport.onRead = { [weak self] event in self?.transportRead(event) }
        transport.startReading()
        pump(deliver: true)
    }

    /// Dropped without `close()` (an owner that forgot, or was dropped
    /// itself): the streams still hear, the timer and transport still close.
    /// No GOAWAY: sending would hand out references to a dying object.
    deinit {
        finish("the connection was dropped", flushing: false)
        if let raw { nghttp2_session_del(raw) }
        context.release()
    }

    // MARK: Streams

    /// Sends HEADERS for `CONNECT authority`, or with `connectUDP` the
    /// extended CONNECT of RFC 9298 over HTTP/2 (`:protocol connect-udp`,
    /// the same path and authority as the HTTP/1.1 upgrade; 200 opens a
    /// capsule stream); nil when nghttp2 refuses (no stream ids left, or the
    /// connection is going away).
    func openStream(authority: String, token: String?, userAgent: String, connectUDP: Bool = false,
                    onResponse: @escaping (Result<Int, HTTP2Failure>) -> Void) -> HTTP2Stream? {
        guard let raw, canOpenStream else { return nil }
        var headers: [(String, String, Bool)]
        if connectUDP {
            let (path, udpAuthority) = ConnectRequest.connectUDPTarget(destination: authority)
            headers = [(":method", "CONNECT", false), (":protocol", "connect-udp", false), (":scheme", "https", false),
                       (":path", String(decoding: path, as: UTF8.self), false),
                       (":authority", String(decoding: udpAuthority, as: UTF8.self), false),
                       ("capsule-protocol", "?1", false)]
        } else {
            headers = [(":method", "CONNECT", false), (":authority", authority, false)]
        }
        let values = headerValues.values(token: token, userAgent: userAgent)
        if let value = values.authorization {
            headers.append(("authorization", value, true))
        }
        headers.append(("user-agent", values.userAgent, false))
        let id = HTTP2Callbacks.submitRequest(raw, headers: headers)
        guard id > 0 else {
            // No stream ids left (or nghttp2 refuses for another reason): this
            // connection takes no more; it closes once its streams are done.
            isGoingAway = true
            streamsChanged = true
            armSoon()
            return nil
        }
        let stream = HTTP2Stream(id: id, session: self, onResponse: onResponse)
        streams[id] = stream
        pump(deliver: false)
        // Outside nghttp2 already: the connector may stop its idle timer now.
        onStreamsChanged?()
        return stream
    }

    /// Tests: jumps to the end of the stream id space (2^31 - 1 is the last).
    func setNextStreamID(_ id: Int32) {
        guard let raw else { return }
        _ = nghttp2_session_set_next_stream_id(raw, id)
    }

    /// A stream's consumer queued bytes or ended its direction: DATA may go.
    func resume(_ stream: HTTP2Stream) {
        guard let raw, streams[stream.id] === stream else { return }
        _ = nghttp2_session_resume_data(raw, stream.id)
        pump(deliver: false)
    }

    /// The consumer took `count` bytes: the gateway may send that many more
    /// on the stream (and on the connection, if it was held back).
    func consumed(_ count: Int, on stream: HTTP2Stream) {
        guard let raw, count > 0 else { return }
        if streams[stream.id] === stream { _ = nghttp2_session_consume_stream(raw, stream.id, count) }
        released(count)
    }

    /// A closed stream dropped `count` bytes its reader never took.
    func dropped(_ count: Int) {
        guard count > 0 else { return }
        released(count)
    }

    private func released(_ count: Int) {
        bufferedInbound -= count
        if let raw, owedConnectionWindow > 0, bufferedInbound <= settings.inboundBudget {
            _ = nghttp2_session_consume_connection(raw, owedConnectionWindow)
            owedConnectionWindow = 0
        }
        pump(deliver: false)
    }

    /// The consumer closed a stream that nghttp2 still has open: RST_STREAM(CANCEL).
    func cancel(_ stream: HTTP2Stream) {
        guard let raw, streams[stream.id] === stream else { return }
        _ = nghttp2_submit_rst_stream(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, NGHTTP2_CANCEL.rawValue)
        pump(deliver: false)
    }

    /// Runs `body` on a later loop turn (a closed stream's cancelled
    /// completions); at once when the session closes first.
    func later(_ body: @escaping () -> Void) {
        guard !isClosed else { return body() }
        deferred.append(body)
        armSoon()
    }

    /// Called by a stream that has an event for its consumer.
    func noteEvent(_ stream: HTTP2Stream) {
        eventful.append(stream)
    }

    // MARK: From nghttp2 (inside mem_recv / mem_send: record only)

    func stream(_ id: Int32) -> HTTP2Stream? { streams[id] }

    func dataArrived(_ bytes: UnsafeRawBufferPointer, on id: Int32) {
        guard let raw else { return }
        guard let stream = streams[id], stream.received(bytes, adopt: { inbound.adopt(bytes) }) else {
            // Nobody will read them: the window they took reopens at once.
            _ = nghttp2_session_consume_connection(raw, bytes.count)
            return
        }
        bufferedInbound += bytes.count
        // Within the budget the connection's window opens at once: only the
        // stream's waits for its reader. Past it, the connection's waits too.
        if bufferedInbound <= settings.inboundBudget {
            _ = nghttp2_session_consume_connection(raw, bytes.count)
        } else {
            owedConnectionWindow += bytes.count
        }
    }

    /// A DATA frame nghttp2 framed without copying: its 9-byte header, then
    /// `length` bytes the stream moves from its queue (a short payload is
    /// copied behind the header: `H2OutboundQueue.take`), join the next write.
    /// Past the write's budget, nghttp2 stops (PAUSE) so one write stays bounded.
    func sendData(streamID: Int32, header: UnsafeRawBufferPointer, length: Int) -> Int32 {
        // Not what the DATA source promised: nothing of the frame goes, and
        // nghttp2 resets the stream.
        guard let stream = streams[streamID], stream.queuedBytes >= length else {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
        }
        pool.append(copying: header, to: &outgoing)
        stream.take(length, into: &outgoing)
        outgoingBytes += header.count + length
        return outgoingBytes >= HTTP2Session.writeBudget ? NGHTTP2_ERR_PAUSE.rawValue : 0
    }

    func streamClosed(_ id: Int32, code: UInt32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        streamsChanged = true
        stream.closedByProtocol(code: code)
    }

    func goAwayArrived(code: UInt32) {
        isGoingAway = true
        goAwayReceived = code
    }

    /// nghttp2 sent GOAWAY: ours on close (NO_ERROR), or its own on a protocol error.
    func goAwaySent(code: UInt32) {
        isGoingAway = true
        if goAwaySent == nil { goAwaySent = code }
    }

    func remoteSettingsArrived() {
        guard !isReady else { return }
        isReady = true
        readyPending = true
    }

    // MARK: The transport

    private func transportRead(_ event: ReadEvent) {
        switch event {
        case .data(let buffer):
            receivedSomething = true
            // A full read is seldom the last of its drain (TLS fills a buffer
            // before it starts the next; libuv reads again after a full
            // read): its events wait for the read that ends the drain, or
            // for the next turn, so what one socket read brought a stream
            // reaches its reader together, as one local write, not one per
            // buffer (a frame header past a full buffer was a write of its own).
            let moreMayFollow = buffer.freeSpace == 0
            let result = inbound.parse(buffer, by: raw)
            if result < 0 {
                return fail("HTTP/2 protocol error from the gateway: \(String(cString: nghttp2_strerror(Int32(result))))")
            }
            if moreMayFollow { armSoon() } else { pump(deliver: true) }
        case .eof:
            // What came before the end is told first, as it would have been
            // had the end come on a later turn (a stream the gateway ended
            // cleanly reads EOF, not the lost connection).
            pump(deliver: true)
            fail("the gateway closed the connection")
        case .error(let error):
            pump(deliver: true)
            fail(error.message)
        }
    }

    /// Sends what nghttp2 has to send, and (with `deliver`) tells the streams'
    /// consumers what happened, until neither has anything left. Re-entrant
    /// calls (a consumer writing while it is told) only ask for another round.
    ///
    /// A consumer's own call (`deliver` false: a tunnel's write, a new
    /// stream, a window update) sends nothing itself: it arms the next-turn
    /// pump, so the frames every tunnel queued during one loop turn leave in
    /// one transport write (few TLS records, one syscall), not one per tunnel.
    private func pump(deliver: Bool) {
        guard !isClosed else { return }
        if !deliver && !isPumping { return armSoon() }
        guard !isPumping else {
            pumpAgain = true
            return
        }
        isPumping = true
        repeat {
            pumpAgain = false
            sendFrames()
            if deliver { deliverEvents() }
        } while pumpAgain && !isClosed
        isPumping = false
        guard !isClosed, let raw else { return }
        // Events of a consumer's own call (or of the frames it caused, such
        // as a stream closed by its RST_STREAM) reach their owners next turn.
        if !eventful.isEmpty || streamsChanged { armSoon() }
        if nghttp2_session_want_read(raw) == 0 && nghttp2_session_want_write(raw) == 0 && !isWriting {
            finish(endReason, flushing: false)
        }
    }

    /// Either side sent GOAWAY with an error code (not a routine end).
    var endedWithErrorCode: Bool { endReason != nil }

    /// Why nghttp2 is done with a connection: nil after GOAWAY(NO_ERROR)
    /// with every stream finished, else the error code either side sent.
    private var endReason: String? {
        if let code = goAwayReceived, code != NGHTTP2_NO_ERROR.rawValue {
            return "the gateway sent GOAWAY with \(HTTP2Failure.codeName(code))"
        }
        if let code = goAwaySent, code != NGHTTP2_NO_ERROR.rawValue {
            return "HTTP/2 protocol error from the gateway (uvtunnel sent GOAWAY with \(HTTP2Failure.codeName(code)))"
        }
        return nil
    }

    /// Bytes gathered for one transport write before nghttp2 is asked to stop.
    static let writeBudget = 256 * 1024

    /// Drains `nghttp2_session_mem_send` into `outgoing` until the budget or
    /// nghttp2 has nothing more; returns the gathered buffers. On a session
    /// error nothing gathered is kept and `error` is nghttp2's code.
    private func gatherFrames(budget: Int, error: inout Int) -> [Buffer] {
        guard let raw else { return [] }
        while outgoingBytes < budget {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(raw, &data)
            if n < 0 {
                outgoing.forEach { pool.give($0) }
                outgoing.removeAll()
                outgoingBytes = 0
                error = n
                return []
            }
            // 0: nothing more, or a DATA frame paused it past the budget.
            guard n > 0, let data else { break }
            pool.append(copying: UnsafeRawBufferPointer(start: data, count: n), to: &outgoing)
            outgoingBytes += n
        }
        let chunks = outgoing
        outgoing = []
        outgoingBytes = 0
        return chunks
    }

    /// Sends what nghttp2 has, one transport write per round (frames of
    /// many streams share TLS records and a write).
    private func sendFrames() {
        guard raw != nil else { return }
        while !isWriting && !isClosed {
            var error = 0
            let chunks = gatherFrames(budget: HTTP2Session.writeBudget, error: &error)
            if error < 0 {
                return fail("HTTP/2 session error: \(String(cString: nghttp2_strerror(Int32(error))))")
            }
            guard !chunks.isEmpty else { return }
            let flushed = transport.writeNow(chunks) { [weak self] error in
                guard let self, !self.isClosed else { return }
                self.isWriting = false
                if let error { return self.fail(error.message) }
                self.pump(deliver: true)
            }
            if !flushed { isWriting = true }
        }
    }

    private func runDeferred() {
        while !deferred.isEmpty {
            let batch = deferred
            deferred.removeAll()
            batch.forEach { $0() }
        }
    }

    private func deliverEvents() {
        runDeferred()
        while !eventful.isEmpty {
            let batch = eventful
            eventful.removeAll(keepingCapacity: true)
            for stream in batch { stream.deliver() }
        }
        if streamsChanged {
            streamsChanged = false
            onStreamsChanged?()
        }
        if readyPending {
            readyPending = false
            onReady?()
        }
    }

    private func armSoon() {
        guard !isClosed else { return }
        soon.arm { [weak self] in self?.pump(deliver: true) }
    }

    /// Writes what nghttp2 still has to send (the GOAWAY) behind any write
    /// in flight, ends our direction, and closes the transport when that is
    /// done, or after `closeFlushMilliseconds` if the peer does not read.
    /// The closures hold the transport and timer, not the session.
    private func closeTransportAfterFlush() {
        var error = 0
        let chunks = gatherFrames(budget: .max, error: &error)
        let transport = transport
        let timer = UVTimer(loop: loop)
        var done = false
        let closeBoth = {
            guard !done else { return }
            done = true
            timer.close()
            transport.close()
        }
        timer.start(milliseconds: settings.closeFlushMilliseconds) { closeBoth() }
        if !chunks.isEmpty { transport.write(chunks) { _ in } }
        transport.shutdownWrite { _ in closeBoth() }
    }

    // MARK: Liveness

    /// True when the gateway sent anything since the last call.
    func takeReceivedSomething() -> Bool {
        defer { receivedSomething = false }
        return receivedSomething
    }

    /// Sends a PING; nghttp2 answers the gateway's own, and any frame back
    /// (its ACK included) counts as a sign of life.
    func ping() {
        guard let raw, !isClosed else { return }
        _ = nghttp2_submit_ping(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
        pump(deliver: false)
    }

    /// Gives up on a connection that stopped answering: as a lost connection.
    func abandon(_ reason: String) {
        fail(reason)
    }

    // MARK: Ending

    /// Closes on purpose (idle, shutdown): GOAWAY(NO_ERROR), which leaves
    /// before the transport closes (bounded by `closeFlushMilliseconds`).
    /// Open streams, if any, fail as on a lost connection.
    func close() {
        guard !isClosed, let raw else { return }
        _ = nghttp2_session_terminate_session(raw, NGHTTP2_NO_ERROR.rawValue)
        finish(nil, flushing: true)
    }

    private func fail(_ reason: String) {
        finish(reason, flushing: false)
    }

    /// The one way out: every open stream hears why, the transport closes
    /// (`flushing`: after what nghttp2 still has to send, the GOAWAY).
    private func finish(_ reason: String?, flushing: Bool) {
        guard !isClosed else { return }
        isClosed = true
        soon.close()
        let open = streams.values.sorted { $0.id < $1.id }
        streams.removeAll()
        streamsLostAtClose = open.count
        for stream in open { stream.connectionLost(reason ?? "the connection was closed") }
        transport.onRead = nil
        if flushing {
            closeTransportAfterFlush()
        } else {
            transport.close()
        }
        // Streams nghttp2 closed in this same round (a reset just before a
        // fatal error) are no longer in `streams`: their events wait only in
        // `eventful`, and they too must hear them, or their tunnels hang.
        var told = Set<ObjectIdentifier>()
        let pending = eventful + open
        eventful.removeAll()
        for stream in pending where told.insert(ObjectIdentifier(stream)).inserted { stream.deliver() }
        eventful.removeAll()
        runDeferred()
        let done = onClosed
        onClosed = nil
        onStreamsChanged = nil
        onReady = nil
        done?(reason)
    }
}
