import CShims
import UVTunnel

/// connect-udp over HTTP/2 (RFC 9298 with RFC 8441's extended CONNECT):
/// judged as the HTTP/1.1 upgrade is (token, --allow), answered 200, then
/// the stream's DATA carries capsules both ways, relayed to a UDP socket by
/// the same `GatewayUDPRelay` as the HTTP/1.1 path.
extension GatewayH2Stream {
    /// `target`: "host:port" from the `:path`, "" when the path is malformed.
    func judgeUDP(_ target: String, token: String?) {
        switch ConnectAdmission.judge(target: target, token: token, isUDP: true, options: options) {
        case .refuse(let status, let reason, let location, let why):
            answer(status, reason, extra: location.map { [("location", $0)] } ?? [], why: why)
        case .dial(let destination):
            dialUDP(destination)
        }
    }

    private func dialUDP(_ destination: ConnectTarget) {
        resolving = GatewayUDPRelay.openSocket(for: destination, loop: loop) { [weak self] result in
            guard let self, !self.isTornDown, self.answered == nil, let session = self.session else {
                if case .success(let (socket, _)) = result { socket.close() }
                return
            }
            self.resolving = nil
            switch result {
            case .failure(let failure):
                self.answer(502, "Bad Gateway", why: failure.why)
            case .success(let (socket, address)):
                self.answered = 200
                session.onAnswered?(200)
                session.respond(self, status: 200, headers: [("capsule-protocol", "?1")], body: true)
                let udp = GatewayH2UDPSession(stream: self, socket: socket)
                self.udp = udp
                do throws(UVError) {
                    try udp.start(target: address, loop: self.loop)
                } catch {
                    self.log(.debug, "stream reset: UDP socket for \(destination): \(error.reason)")
                    session.reset(self, code: NGHTTP2_INTERNAL_ERROR.rawValue)
                    self.tearDown()
                }
            }
        }
    }
}

/// The client's side of one connect-udp stream as the `ByteStream` that
/// `GatewayUDPRelay` reads capsules from and writes capsules to: the
/// stream's DATA in, its DATA source out. Owns the UDP socket (closed with
/// the stream's teardown, its one close path).
///
/// UDP has no backpressure: DATA is consumed (its window reopened) as soon
/// as the relay took it, and a capsule for the client while the stream's
/// queue is over its limit is dropped, as a full network queue would.
final class GatewayH2UDPSession: ByteStream {
    private weak var stream: GatewayH2Stream?
    private let socket: UDPSocket
    private let pool: BufferPool
    private var relay: GatewayUDPRelay?
    private var isReading = false
    private var isFlushing = false
    private var endDelivered = false
    private var isClosed = false
    var onRead: ((ReadEvent) -> Void)?

    init(stream: GatewayH2Stream, socket: UDPSocket) {
        self.stream = stream
        self.socket = socket
        pool = stream.loop.buffers
    }

    /// Starts the relay; it and this session hold each other until `close` (the stream's teardown).
    func start(target: SocketAddress, loop: EventLoop) throws(UVError) {
        let relay = GatewayUDPRelay(loop: loop, client: self, socket: socket, target: target) { [weak self] reason in
            self?.relayEnded(reason)
        }
        self.relay = relay
        try relay.start(early: pool.take())
    }

    /// Hands the client's DATA to the relay (and its END_STREAM, once); the
    /// stream calls it whenever something arrived.
    func flush() {
        guard isReading, !isFlushing, let stream else { return }
        isFlushing = true
        defer { isFlushing = false }
        if !stream.inbound.isEmpty {
            let chunk = stream.inbound
            stream.inbound.removeAll()
            let count = chunk.reduce(0) { $0 + $1.count }
            for buffer in chunk {
                if let onRead { onRead(.data(buffer)) } else { pool.give(buffer) }
            }
            stream.session?.consumed(count, on: stream)
        }
        if stream.clientEnded, stream.inbound.isEmpty, !endDelivered, let onRead {
            endDelivered = true
            onRead(.eof)
        }
    }

    /// The relay is done: a clean end of the client's capsules gets our
    /// END_STREAM; a broken capsule stream (bad varint, oversized capsule) a reset.
    private func relayEnded(_ reason: String?) {
        guard let stream, let session = stream.session else { return }
        guard let reason else {
            stream.sourceEnded = true
            return session.resume(stream)
        }
        stream.log(.debug, "stream reset: capsule stream: \(reason)")
        session.reset(stream, code: NGHTTP2_PROTOCOL_ERROR.rawValue)
        stream.tearDown()
    }

    // MARK: ByteStream

    func startReading() {
        isReading = true
        flush()
    }

    func stopReading() { isReading = false }

    func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        queue(buffers)
        completion(nil)
    }

    func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        queue(buffers)
        return true
    }

    private func queue(_ buffers: [Buffer]) {
        guard !isClosed, let stream, !stream.isTornDown, !stream.sourceEnded,
              stream.outboundBytes < stream.outboundLimit else {
            return buffers.forEach { pool.give($0) }
        }
        buffers.forEach { stream.outbound.append($0) }
        stream.session?.resume(stream)
    }

    func shutdownWrite(completion: @escaping (StreamError?) -> Void) {
        if let stream, !stream.sourceEnded {
            stream.sourceEnded = true
            stream.session?.resume(stream)
        }
        completion(nil)
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        onRead = nil
        relay = nil
        socket.close()
    }
}
