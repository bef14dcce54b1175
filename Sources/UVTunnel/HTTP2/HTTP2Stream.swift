import CShims

/// One tunnel on a shared HTTP/2 connection, as a `ByteStream`: a CONNECT
/// stream whose DATA goes both ways. Local EOF (`shutdownWrite`) is
/// END_STREAM; the gateway's END_STREAM is our EOF; `close` is
/// RST_STREAM(CANCEL) unless the stream already ended; a reset from the
/// gateway is a read error naming its code.
///
/// Buffering is bounded both ways: incoming bytes wait here only within the
/// stream's window (the window reopens as the reader takes them), outgoing
/// bytes up to `outboundLimit` before the writer is paused.
public final class HTTP2Stream: SharedConnectionStream, H2DataStream {
    let id: Int32
    /// The connection's number, for log lines.
    private let connectionID: Int
    private weak var session: HTTP2Session?
    private let pool: BufferPool
    private let outboundLimit: Int
    public var onRead: ((ReadEvent) -> Void)?

    // The answer to CONNECT.
    private var onResponse: ((Result<Int, HTTP2Failure>) -> Void)?
    /// The final answer's status, once its whole header block arrived.
    private var status: Int?
    private var statusSoFar: Int?
    private var answered = false
    /// Response header bytes so far, as SETTINGS_MAX_HEADER_LIST_SIZE counts them.
    private var headerBytes = 0
    /// What this side takes in one response header list (and tells the gateway).
    static let maxHeaderListSize = 64 * 1024

    /// The gateway's direction: open, ended (END_STREAM came; EOF follows
    /// the queued bytes), or its end told to the reader (EOF or an error).
    enum RemoteDirection { case open, ended, endTold }
    /// Our direction: open, ending (END_STREAM goes after the queue), or
    /// END_STREAM sent.
    enum LocalDirection { case open, ending, endSent }

    // Gateway → local.
    private var inbound: [Buffer] = []
    /// The last of `inbound` is an adopted transport read whose free space
    /// may still hold input nghttp2 is parsing: copies start a new buffer.
    private var inboundSealed = false
    private var wantsData = false
    private var remote = RemoteDirection.open
    /// Set when nghttp2 closed the stream, or the connection broke.
    private var failure: HTTP2Failure?
    private var isProtocolClosed = false

    // Local → gateway.
    private var outbound = H2OutboundQueue()
    private var outboundBytes: Int { outbound.bytes }
    private var writeWaiter: ((StreamError?) -> Void)?
    private var shutdownWaiter: ((StreamError?) -> Void)?
    private var local = LocalDirection.open

    private var isClosed = false
    /// An event for the consumer is already noted with the session.
    private var isNoted = false
    /// Inside `deliver`: a consumer's nested `startReading` only says so.
    private var isDelivering = false
    /// Bytes the reader took with `takeReceived` during `deliverInbound`.
    private var takenAlongside = 0

    init(id: Int32, session: HTTP2Session, onResponse: @escaping (Result<Int, HTTP2Failure>) -> Void) {
        self.id = id
        self.session = session
        connectionID = session.connectionID
        pool = session.pool
        outboundLimit = session.settings.outboundLimit
        self.onResponse = onResponse
    }

    public var logMetadata: [String: String] { ["connection": "h2-\(connectionID)", "stream": "\(id)"] }

    // MARK: ByteStream

    /// Hands over what is queued at once, as a socket stream does; never
    /// called from inside nghttp2 (consumers only run outside it).
    public func startReading() {
        guard !isClosed else { return }
        wantsData = true
        guard !isDelivering else { return }
        deliver()
    }

    public func stopReading() {
        wantsData = false
    }

    /// The relay's gather: the buffers queued behind the one being delivered
    /// go in the same local write (one syscall per transport read, not one
    /// per payload). Their window reopens with the delivered one's.
    public func takeReceived(into buffers: inout [Buffer], limit: Int) {
        guard !isClosed, wantsData else { return }
        var total = 0
        for buffer in buffers { total += buffer.count }
        var moved = 0
        while let next = inbound.first, total + next.count <= limit {
            inbound.removeFirst()
            total += next.count
            moved += next.count
            buffers.append(next)
        }
        guard moved > 0 else { return }
        if isDelivering { takenAlongside += moved } else { session?.consumed(moved, on: self) }
    }

    public func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        if writeNow(buffers, otherwise: completion) {
            // Accepted at once: say so from the loop, as promised.
            writeWaiter = completion
            note()
            session?.resume(self)
        }
    }

    public func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        guard enqueue(buffers) else {
            completion(StreamError(message: failure?.description ?? "the HTTP/2 stream is closed"))
            return false
        }
        guard outboundBytes >= outboundLimit else { return true }
        writeWaiter = completion
        return false
    }

    /// Queues `buffers` as DATA, whatever the bound: a tunnel's first bytes,
    /// sent before the answer (few; the relay's writes heed the bound). True
    /// when taken; false (the buffers given back) when the stream is over.
    func enqueue(_ buffers: [Buffer]) -> Bool {
        guard !isClosed, local == .open, failure == nil, !isProtocolClosed else {
            buffers.forEach { pool.give($0) }
            return false
        }
        for buffer in buffers { outbound.enqueue(buffer, pool: pool) }
        session?.resume(self)
        return true
    }

    /// Sends END_STREAM after what is queued. A stream that is already over
    /// answers at once: cleanly when it ended without error (the gateway
    /// ended its side and reset with NO_ERROR: it wants nothing more), else
    /// with the reason; nothing is left to wait for that could call back later.
    public func shutdownWrite(completion: @escaping (StreamError?) -> Void) {
        if let failure { return completion(StreamError(message: failure.description)) }
        if isClosed { return completion(StreamError(message: "the HTTP/2 stream is closed")) }
        if isProtocolClosed || local != .open { return completion(nil) }
        local = .ending
        shutdownWaiter = completion
        session?.resume(self)
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        onRead = nil
        onResponse = nil
        // A pending write or shutdown hears ECANCELED on the next turn, as on
        // a socket closed under it (the caller may be waiting to free things).
        let waiters = [writeWaiter.map { ($0, "write") }, shutdownWaiter.map { ($0, "shutdown") }].compactMap { $0 }
        writeWaiter = nil
        shutdownWaiter = nil
        if !waiters.isEmpty {
            session?.later {
                for (waiter, operation) in waiters { waiter(StreamError(UVError(UV_ECANCELED.rawValue, operation))) }
            }
        }
        let unread = inbound.reduce(0) { $0 + $1.count }
        inbound.forEach { pool.give($0) }
        inbound.removeAll()
        session?.dropped(unread)
        outbound.drain(to: pool)
        if !isProtocolClosed { session?.cancel(self) }
    }

    // MARK: From the session, inside nghttp2 (record only)

    /// Counts one header field; false once the list is over the limit.
    func countHeader(bytes: Int) -> Bool {
        headerBytes += bytes + 32
        guard headerBytes > HTTP2Stream.maxHeaderListSize else { return true }
        if failure == nil { failure = .headersTooLarge(HTTP2Stream.maxHeaderListSize) }
        return false
    }

    func statusHeader(_ value: String) {
        statusSoFar = Int(value)
    }

    func responseHeadersEnded() {
        // 1xx answers are informational; the final one follows.
        defer { statusSoFar = nil }
        if let statusSoFar, (100..<200).contains(statusSoFar) { return }
        // Not over the header limit: a block that was is a failure, not an answer.
        guard failure == nil else { return }
        status = statusSoFar
        note()
    }

    /// Keeps the gateway's bytes for the reader: the transport read itself
    /// when `adopt` gives it (narrowed to them), else a copy. False when
    /// nobody will read them (reset by us and not yet forgotten by nghttp2).
    func received(_ bytes: UnsafeRawBufferPointer, adopt: () -> Buffer?) -> Bool {
        guard !isClosed else { return false }
        if let read = adopt() {
            inbound.append(read)
            inboundSealed = true
        } else {
            if inboundSealed {
                inbound.append(pool.take())
                inboundSealed = false
            }
            pool.append(copying: bytes, to: &inbound)
        }
        note()
        return true
    }

    func remoteEnded() {
        if remote == .open { remote = .ended }
        note()
    }

    func localEndSent() {
        local = .endSent
        note()
    }

    /// How long the next DATA frame should be (`H2OutboundQueue`).
    package func preferredFrameLength(limit: Int) -> Int { outbound.preferredFrameLength(limit: limit) }

    /// The DATA source: up to `limit` queued bytes, END_STREAM once the
    /// writer shut down (nothing more will be queued).
    package func produce(upTo limit: Int) -> H2OutboundQueue.Produced { outbound.produce(upTo: limit, ended: local != .open) }

    /// Bytes queued toward the gateway.
    var queuedBytes: Int { outboundBytes }

    /// Moves the first `count` queued bytes (at most `queuedBytes`) behind
    /// `chunks`, the session's next transport write: whole buffers as they
    /// are, a short payload or a part of a buffer by a copy.
    func take(_ count: Int, into chunks: inout [Buffer]) {
        outbound.take(count, into: &chunks, pool: pool)
        if writeWaiter != nil && outboundBytes < outboundLimit { note() }
    }

    /// nghttp2 forgot the stream: both sides ended (NO_ERROR), or it was reset.
    func closedByProtocol(code: UInt32) {
        isProtocolClosed = true
        if code != 0 && failure == nil && !bothEnded { failure = .reset(code: code) }
        if code == 0 && remote == .open && failure == nil { remote = .ended }
        note()
    }

    func connectionLost(_ reason: String) {
        isProtocolClosed = true
        if failure == nil && !bothEnded { failure = .connectionLost(reason) }
    }

    /// Both directions ended cleanly: whatever closes the stream now is no failure.
    private var bothEnded: Bool { remote != .open && local == .endSent }

    private func note() {
        guard !isNoted, !isClosed else { return }
        isNoted = true
        session?.noteEvent(self)
    }

    // MARK: To the consumer, outside nghttp2

    /// Tells the consumer what happened: the answer to CONNECT, writes that
    /// may go on, the end of our direction, then the gateway's bytes and end.
    func deliver() {
        isNoted = false
        guard !isClosed, !isDelivering else { return }
        isDelivering = true
        defer { isDelivering = false }
        if !answered {
            if let status {
                answered = true
                let done = onResponse
                onResponse = nil
                done?(.success(status))
            } else if isProtocolClosed {
                answered = true
                let done = onResponse
                onResponse = nil
                done?(.failure(failure ?? .reset(code: 0)))
                return
            } else {
                return
            }
        }
        guard !isClosed else { return }
        if let waiter = writeWaiter, outboundBytes < outboundLimit || failure != nil || isProtocolClosed {
            writeWaiter = nil
            waiter(failure.map { StreamError(message: $0.description) })
        }
        if let waiter = shutdownWaiter, local == .endSent || failure != nil || isProtocolClosed {
            shutdownWaiter = nil
            // Closed without error before our END_STREAM went: nothing more was wanted.
            waiter(local == .endSent ? nil : failure.map { StreamError(message: $0.description) })
        }
        deliverInbound()
    }

    private func deliverInbound() {
        var taken = 0
        while wantsData && !isClosed, !inbound.isEmpty {
            let buffer = inbound.removeFirst()
            taken += buffer.count
            guard let onRead else {
                pool.give(buffer)
                continue
            }
            onRead(.data(buffer))
            taken += takenAlongside
            takenAlongside = 0
        }
        if taken > 0 { session?.consumed(taken, on: self) }
        guard wantsData, !isClosed, inbound.isEmpty, remote != .endTold else { return }
        if let failure {
            remote = .endTold
            onRead?(.error(StreamError(message: failure.description)))
        } else if remote == .ended {
            remote = .endTold
            onRead?(.eof)
        }
    }
}
