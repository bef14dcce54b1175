/// One tunnel's way through `HTTP2Connector`: waits for a connection (being
/// dialled) or opens a stream at once, then waits for the answer to its
/// CONNECT; or, after an ALPN fallback, hands over to an HTTP/1.1 attempt.
/// Owns the connect timeout until it finishes.
final class HTTP2ConnectAttempt: ConnectAttempt {
    private let loop: EventLoop
    private weak var connector: HTTP2Connector?
    private let destination: String
    private let token: String?
    /// A connect-udp session (extended CONNECT, RFC 9298 over HTTP/2), not a CONNECT.
    let isUDP: Bool
    /// The completion, the connect timeout, and a result that came while
    /// `open` was still running held for the next turn.
    private let outcome: AttemptCompletion
    private let timeoutMilliseconds: UInt64
    private let startedAt: UInt64
    private weak var dial: HTTP2Dial?
    private var stream: HTTP2Stream?
    private var inner: ConnectAttempt?
    /// The tunnel's early bytes (copied onto each stream opened).
    private var early: [UInt8]?
    /// The current stream took a copy of `early`.
    private(set) var carriedEarly = false

    init(loop: EventLoop, connector: HTTP2Connector, destination: String, token: String?, timeoutMilliseconds: UInt64,
         isUDP: Bool = false, completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) {
        self.loop = loop
        self.isUDP = isUDP
        self.connector = connector
        self.destination = destination
        self.token = token
        outcome = AttemptCompletion(loop: loop, completion: completion)
        self.timeoutMilliseconds = timeoutMilliseconds
        startedAt = loop.now
        outcome.timer.start(milliseconds: timeoutMilliseconds) { [weak self] in
            guard let self else { return }
            self.finish(.failure(.timedOut(stage: self.stage, milliseconds: timeoutMilliseconds, activity: self.activity)))
        }
    }

    /// An owner that dropped the attempt without cancelling it: the stream
    /// would otherwise hold a slot on its connection.
    deinit {
        stream?.close()
    }

    var stage: ConnectStage {
        if let inner { return inner.stage }
        if let dial { return dial.stage }
        if stream != nil { return .awaitingAnswer }
        return outcome.isPending ? .resolving : .finished
    }

    private var activity: String {
        if let dial { return dial.activity }
        return "waiting for the gateway to answer \(isUDP ? "connect-udp" : "CONNECT") \(destination) on an HTTP/2 stream"
    }

    /// Runs `body` (which may finish the attempt at once); such a result is
    /// held until the next loop turn.
    func starting(_ body: () -> Void) {
        outcome.starting(body, deliver: { [weak self] in self?.finish($0) })
    }

    func waiting(on dial: HTTP2Dial) {
        self.dial = dial
    }

    /// Sends HEADERS on `session`; the answer finishes the attempt.
    func open(on session: HTTP2Session, userAgent: String) {
        dial = nil
        guard outcome.isPending else { return }
        let opened = session.openStream(authority: destination, token: token, userAgent: userAgent,
                                        connectUDP: isUDP) { [weak self] result in
            self?.answered(result)
        }
        guard let opened else {
            // nghttp2 refused (no stream ids left): the session now counts as
            // going away, so placing again picks another connection. Bounded:
            // a connector whose every connection refuses fails the tunnel.
            guard placedAgain < 2 else {
                return finish(.failure(.http2(.connectionLost("the connection cannot open another stream"))))
            }
            placedAgain += 1
            connector?.place(self)
            return
        }
        stream = opened
        sendEarly()
    }

    func carryEarly(_ bytes: [UInt8]) {
        guard !isUDP, early == nil else { return }
        early = bytes
        sendEarly()
    }

    /// Writes a copy of the early bytes on the stream, once per stream: a
    /// stream opened again (refused, or its connection went away) carries
    /// them again. A first read longer than `earlyLimit` is not carried: the
    /// tunnel sends it once relaying.
    private func sendEarly() {
        guard let early, let stream, !carriedEarly, early.count <= HTTP2ConnectAttempt.earlyLimit else { return }
        carriedEarly = stream.enqueue(loop.buffers.buffers(copying: early))
    }

    /// Early bytes beyond this wait for the relay (a first message is a
    /// ClientHello, an RDP connection request, a protocol banner: far less).
    static let earlyLimit = 16 * 1024

    /// Times `open` found its connection refusing a stream and placed the attempt again.
    private var placedAgain = 0

    private func answered(_ result: Result<Int, HTTP2Failure>) {
        guard let stream else { return }
        switch result {
        case .success(let status) where ConnectOutcome(status: status) == .open:
            self.stream = nil  // the caller's now
            finish(.success(stream))
        case .success(let status):
            finish(.failure(.answered(status: status)))
        case .failure(.reset(let code)) where code == HTTP2ConnectAttempt.refusedStream && !retriedRefusal:
            // REFUSED_STREAM (a GOAWAY that did not cover the stream, or a
            // server at its limit): the gateway never processed the request,
            // so it goes again, once, on a connection that takes new streams.
            retriedRefusal = true
            self.stream = nil
            carriedEarly = false
            stream.close()
            connector?.place(self)
        case .failure(let failure):
            finish(.failure(.http2(failure)))
        }
    }

    private static let refusedStream: UInt32 = 0x7
    private var retriedRefusal = false

    /// The gateway speaks only HTTP/1.1 (or, for connect-udp, takes no
    /// extended CONNECT): the rest of the way is an HTTP/1.1 attempt (a
    /// connect-udp upgrade for a UDP session), within what is left of this
    /// attempt's connect timeout.
    func delegate(to fallback: HTTP1Connector) {
        dial = nil
        guard outcome.isPending else { return }
        let spent = loop.now - startedAt
        // Nothing left: this attempt's own timer fires on its own.
        guard spent < timeoutMilliseconds else { return }
        let total = timeoutMilliseconds
        let kind: HTTP1ConnectAttempt.Kind = isUDP ? .connectUDP : .connect
        inner = fallback.open(kind, destination: destination, token: token, timeoutMilliseconds: total - spent) { [weak self] result in
            guard let self else {
                if case .success(let stream) = result { stream.close() }
                return
            }
            self.inner = nil
            // A timeout names the whole connect timeout, as the user set it.
            if case .failure(.timedOut(let stage, _, let activity)) = result {
                return self.finish(.failure(.timedOut(stage: stage, milliseconds: total, activity: activity)))
            }
            self.finish(result)
        }
        // The HTTP/1.1 attempt times itself out within what is left.
        outcome.timer.stop()
    }

    func cancel() {
        outcome.cancel { release() }
    }

    func finish(_ result: Result<ByteStream, TunnelFailure>) {
        outcome.finish(result) { release() }
    }

    private func release() {
        early = nil
        if let dial { connector?.withdraw(self, from: dial) }
        dial = nil
        inner?.cancel()
        inner = nil
        stream?.close()
        stream = nil
    }
}
