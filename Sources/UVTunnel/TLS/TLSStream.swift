/// TLS over a byte stream (a socket, or any `ByteStream`: an egress proxy's
/// tunnel, an in-memory pair in the unit tests), driven by the loop: transport
/// reads are fed into the session, decrypted bytes are handed on, and every
/// ciphertext the session produces (handshake, data, alerts, close_notify) is
/// drained and written.
///
/// Backpressure: while the consumer has stopped reading, the transport is not
/// read either; at most one transport read of ciphertext waits inside OpenSSL.
public final class TLSStream: ByteStream {
    /// An existential, not a generic parameter: the relay's write costs one
    /// indirect call more per buffer (not per byte), and callers keep one type.
    private let transport: ByteStream
    private let session: TLSSession
    private let pool: BufferPool
    public var onRead: ((ReadEvent) -> Void)?

    private var handshakeCompletion: ((TLSError?) -> Void)?
    private var consumerWantsData = false
    private var socketEnded = false
    private var endDelivered = false
    private var isClosed = false
    /// Through an egress proxy a FIN would end the proxy's whole tunnel
    /// (squid, like most proxies, does not carry half-close), losing what the
    /// gateway still sends; so our direction's end is said by close_notify
    /// alone, and the socket closes with the tunnel.
    var endsWithCloseNotifyOnly = false

    /// Wraps a connected transport whose reads come from `pool`; call `handshake` next.
    init(transport: ByteStream, pool: BufferPool, session: TLSSession) {
        self.transport = transport
        self.session = session
        self.pool = pool
        transport.onRead = { [weak self] event in self?.socketRead(event) }
    }

    public static func client(socket: UVStream, context: TLSContext, serverName: String, verifyName: Bool) throws(TLSError) -> TLSStream {
        try client(transport: socket, pool: socket.loop.buffers, context: context, serverName: serverName, verifyName: verifyName)
    }

    public static func server(socket: UVStream, context: TLSContext) throws(TLSError) -> TLSStream {
        try server(transport: socket, pool: socket.loop.buffers, context: context)
    }

    /// `pool`: the one the transport's reads come from and its writes give back to.
    public static func client(transport: ByteStream, pool: BufferPool, context: TLSContext, serverName: String,
                              verifyName: Bool) throws(TLSError) -> TLSStream {
        TLSStream(transport: transport, pool: pool,
                  session: try TLSSession(client: context, serverName: serverName, verifyName: verifyName, pool: pool))
    }

    public static func server(transport: ByteStream, pool: BufferPool, context: TLSContext) throws(TLSError) -> TLSStream {
        TLSStream(transport: transport, pool: pool, session: try TLSSession(server: context, pool: pool))
    }

    /// Ciphertext that arrived before this stream took over the socket (an
    /// egress proxy may pass the server's first bytes on in the same read as
    /// its `200`): fed to the session so the handshake reads it first.
    /// Takes ownership of the buffer. Call before `handshake`.
    func feedEarlyCiphertext(_ buffer: Buffer) {
        session.feed(buffer)
    }

    public var negotiatedProtocol: String? { session.negotiatedProtocol }
    public var protocolVersion: String { session.protocolVersion }
    public var resumedSession: Bool { session.resumed }

    /// See TLSSession.ticketWatch; a close before any ticket reports `.noTicket`.
    var ticketWatch: ((TLSSession.TicketEvent) -> Void)? {
        get { session.ticketWatch }
        set { session.ticketWatch = newValue }
    }

    /// Runs the handshake; `completion` gets nil once it is done, or the reason it failed.
    public func handshake(completion: @escaping (TLSError?) -> Void) {
        handshakeCompletion = completion
        transport.startReading()
        continueHandshake()
    }

    private func continueHandshake() {
        switch session.handshake() {
        case .wantMore:
            flushOutput()
        case .done:
            flushOutput()
            transport.stopReading()  // until the consumer asks for data
            finishHandshake(nil)
        case .failed(let error):
            flushOutput()  // the alert tells the peer why
            finishHandshake(error)
        }
    }

    private func finishHandshake(_ error: TLSError?) {
        guard let completion = handshakeCompletion else { return }
        handshakeCompletion = nil
        completion(error)
    }

    // MARK: Reading

    public func startReading() {
        guard !isClosed, handshakeCompletion == nil else { return }
        consumerWantsData = true
        pump()
    }

    public func stopReading() {
        consumerWantsData = false
        transport.stopReading()
    }

    private func socketRead(_ event: ReadEvent) {
        switch event {
        case .data(let buffer):
            session.feed(buffer)
            if handshakeCompletion != nil { continueHandshake() } else { pump() }
        case .eof:
            socketEnded = true
            if handshakeCompletion != nil {
                finishHandshake(TLSError("the connection was closed during the TLS handshake"))
            } else {
                pump()
            }
        case .error(let error):
            if handshakeCompletion != nil {
                finishHandshake(TLSError("TLS handshake failed: \(error.message)"))
            } else {
                deliver(.error(error))
            }
        }
    }

    /// Hands decrypted bytes to the consumer while it wants them, then decides
    /// whether the socket should be read.
    private func pump() {
        while consumerWantsData && !isClosed && !endDelivered {
            let buffer = pool.take()
            let step = session.read(into: buffer)
            if session.pendingOutput > 0 { flushOutput() }
            switch step {
            case .bytes:
                deliver(.data(buffer))
                continue
            case .wantMore:
                pool.give(buffer)
                // Nothing more to decrypt for now: the tunnel may sit idle for hours.
                session.releaseIdleBuffers()
                if socketEnded {
                    endDelivered = true
                    if session.hasBufferedInput {
                        // Cut off inside a record: never pass a truncated stream off as complete.
                        deliver(.error(StreamError(message: "TLS stream truncated: the connection ended inside a record")))
                    } else {
                        // EOF without close_notify on a record boundary: the peer's direction ended.
                        deliver(.eof)
                    }
                }
            case .closed:
                pool.give(buffer)
                endDelivered = true
                deliver(.eof)
            case .failed(let error):
                pool.give(buffer)
                endDelivered = true
                deliver(.error(StreamError(message: error.message)))
            }
            break
        }
        guard !isClosed else { return }
        if consumerWantsData && !socketEnded && !endDelivered {
            transport.startReading()
        } else {
            transport.stopReading()
        }
    }

    private func deliver(_ event: ReadEvent) {
        guard let onRead else {
            if case .data(let buffer) = event { pool.give(buffer) }
            return
        }
        onRead(event)
    }

    // MARK: Writing

    public func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        if let failure = encrypt(buffers) { return completion(failure) }
        flushOutput(completion: completion)
        // The ciphertext now sits in our buffers; OpenSSL's own can go.
        session.releaseIdleBuffers()
    }

    public func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        if let failure = encrypt(buffers) {
            completion(failure)
            return false
        }
        let flushed = transport.writeNow(drainOutput(), otherwise: completion)
        session.releaseIdleBuffers()
        return flushed
    }

    /// Encrypts `buffers` into the session's output and gives them back to the pool.
    private func encrypt(_ buffers: [Buffer]) -> StreamError? {
        var failure: TLSError?
        for buffer in buffers {
            if failure == nil {
                do { try session.write(buffer) } catch { failure = error }
            }
            pool.give(buffer)
        }
        return failure.map { StreamError(message: $0.message) }
    }

    /// Sends close_notify, then FIN: the gateway sees our direction end while
    /// its own keeps flowing.
    public func shutdownWrite(completion: @escaping (StreamError?) -> Void) {
        session.sendCloseNotify()
        guard !endsWithCloseNotifyOnly else { return flushOutput(completion: completion) }
        flushOutput()
        transport.shutdownWrite(completion: completion)
    }

    /// Writes whatever ciphertext the session has produced.
    private func flushOutput(completion: ((StreamError?) -> Void)? = nil) {
        let chunks = drainOutput()
        guard !chunks.isEmpty else {
            completion?(nil)
            return
        }
        if let completion {
            transport.write(chunks, completion: completion)
        } else {
            // Handshake and protocol records: a failure shows up as a read error too.
            transport.write(chunks) { _ in }
        }
    }

    /// The ciphertext the session has produced, in pool buffers.
    private func drainOutput() -> [Buffer] {
        session.takeOutput()
    }

    /// The socket's: a reset under TLS is a reset of the session.
    public func departure() -> StreamError? { transport.departure() }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        onRead = nil
        handshakeCompletion = nil
        session.reportTicket(.noTicket)
        transport.close()
    }
}
