import Logging
import UVTunnel

/// One client of the bundled gateway: handshake, CONNECT head, checks,
/// target connect, `200`, relay; or an error status and close.
final class GatewayConnection {
    let id: Int
    private let loop: EventLoop
    private let socket: UVStream
    private let options: GatewayOptions
    private var logger: Logger
    private let timer: UVTimer
    private var client: ByteStream
    private var target: UVStream?
    private var parser = ConnectRequestParser()
    private var relay: Relay?
    private var answered: Int?
    private var resolving: ResolveRequest?
    private var isClosed = false
    private var onClosed: ((GatewayConnection, Int?) -> Void)?

    init(id: Int, loop: EventLoop, client: UVStream, options: GatewayOptions, logger: Logger,
         onClosed: @escaping (GatewayConnection, Int?) -> Void) {
        self.id = id
        self.loop = loop
        socket = client
        self.client = client
        self.options = options
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(id)"
        self.onClosed = onClosed
        timer = UVTimer(loop: loop)
    }

    func start() {
        socket.setNoDelay()
        socket.setKeepAlive()
        timer.start(milliseconds: options.handshakeTimeoutMilliseconds) { [weak self] in
            self?.close("no complete CONNECT request within \(self?.options.handshakeTimeoutMilliseconds ?? 0) ms")
        }
        guard let context = options.tls else { return readRequest() }
        let tls: TLSStream
        do {
            tls = try TLSStream.server(socket: socket, context: context)
        } catch {
            return close("TLS setup: \(error.message)")
        }
        client = tls
        tls.handshake { [weak self] error in
            guard let self, !self.isClosed else { return }
            if let error { return self.close(error.message) }
            self.readRequest()
        }
    }

    private func readRequest() {
        client.onRead = { [weak self] event in self?.requestRead(event) }
        client.startReading()
    }

    private func requestRead(_ event: ReadEvent) {
        switch event {
        case .data(let buffer):
            let step: HeadParseStep<ConnectRequestHead>
            do {
                step = try buffer.withReadableBytes { try parser.feed($0) }
            } catch {
                loop.buffers.give(buffer)
                return respond(400, "Bad Request", why: "\(error)")
            }
            guard case .complete(let head, let consumed) = step else { return loop.buffers.give(buffer) }
            buffer.consume(consumed)
            client.stopReading()
            client.onRead = nil
            decide(head, early: buffer)
        case .eof:
            close("client closed before a complete request")
        case .error(let error):
            close(error.message)
        }
    }

    private func decide(_ head: ConnectRequestHead, early: Buffer) {
        guard head.method == "CONNECT" else {
            loop.buffers.give(early)
            guard head.method == "GET", let issue = options.issueToken else {
                return respond(405, "Method Not Allowed", why: "method \(head.method)")
            }
            let login = GatewayLogin(issueToken: issue, autoApprove: options.autoApprove)
            let scheme = options.tls == nil ? "http" : "https"
            let host = head.value(of: "Host").flatMap { try? HostPort.parse(Substring($0), portRequired: false) }
            let base = host.map { "\(scheme)://\($0.hostForURL)\($0.port.map { ":\($0)" } ?? "")" } ?? "\(scheme)://\(localAddress)"
            guard case .response(let bytes, let status, let event) = login.answer(head, baseURL: base) else { return }
            return respond(raw: bytes, status: status, why: event)
        }
        if let forced = options.forcedStatus {
            loop.buffers.give(early)
            return respond(forced, "Forced", why: "--answer-status")
        }
        if let verify = options.verifyToken {
            guard let token = head.pomeriumToken() else {
                loop.buffers.give(early)
                return respond(302, "Found", extra: "Location: /.pomerium/sign_in\r\n", why: "no token")
            }
            if case .invalid(let reason) = verify(token) {
                loop.buffers.give(early)
                return respond(401, "Unauthorized", why: "token rejected: \(reason)")
            }
        }
        guard let destination = ConnectTarget(head.target) else {
            loop.buffers.give(early)
            return respond(400, "Bad Request", why: "invalid CONNECT target")
        }
        guard options.destinations.allows(destination) else {
            loop.buffers.give(early)
            return respond(403, "Forbidden", why: "destination \(destination) not allowed")
        }
        dial(destination, early: early)
    }

    private func dial(_ destination: ConnectTarget, early: Buffer) {
        timer.start(milliseconds: options.targetConnectTimeoutMilliseconds) { [weak self] in
            self?.respond(504, "Gateway Timeout", why: "target \(destination) did not answer")
        }
        // The pool is held strongly: `early` goes back even if this connection is gone.
        let pool = loop.buffers
        resolving = Resolver.resolve(destination.host, port: destination.port, loop: loop) { [weak self] result in
            guard let self, !self.isClosed, self.answered == nil else { return pool.give(early) }
            self.resolving = nil
            guard case .success(let addresses) = result, let address = addresses.first else {
                self.loop.buffers.give(early)
                return self.respond(502, "Bad Gateway", why: "cannot resolve \(destination.host)")
            }
            do throws(UVError) {
                let target = try UVStream.tcp(loop: self.loop)
                self.target = target
                try target.connect(to: address) { [weak self] error in
                    guard let self, !self.isClosed, self.answered == nil else { return pool.give(early) }
                    if let error {
                        self.loop.buffers.give(early)
                        return self.respond(502, "Bad Gateway", why: "target \(destination): \(error.reason)")
                    }
                    self.open(target, early: early)
                }
            } catch {
                self.loop.buffers.give(early)
                self.respond(502, "Bad Gateway", why: "target \(destination): \(error.reason)")
            }
        }
    }

    private func open(_ target: UVStream, early: Buffer) {
        timer.stop()
        target.setNoDelay()
        target.setKeepAlive()
        answered = 200
        let reply = loop.buffers.take()
        reply.append(Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8))
        client.write([reply]) { _ in }
        // A = target, B = client: bytes the client sent right behind its
        // request head go to the target first.
        let relay = Relay(a: target, b: client, pool: loop.buffers) { [weak self] end in
            switch end {
            case .completed: self?.close(nil)
            case .failed(_, let reason): self?.close(reason)
            }
        }
        self.relay = relay
        relay.start(firstBytesForA: early)
    }

    private func respond(_ status: Int, _ reason: String, extra: String = "", why: String) {
        let body = "\(status) \(reason)\n"
        let text = "HTTP/1.1 \(status) \(reason)\r\n\(extra)Content-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        respond(raw: Array(text.utf8), status: status, why: why)
    }

    /// Sends a complete response, then closes once it is flushed.
    private func respond(raw response: [UInt8], status: Int, why: String) {
        guard !isClosed, answered == nil else { return }
        answered = status
        timer.stop()
        logger.info("answered \(status): \(why)")
        // No more reads: an EOF or more junk must not close before the answer is out.
        client.onRead = nil
        client.stopReading()
        client.write(loop.buffers.buffers(copying: response)) { _ in }
        client.shutdownWrite { [weak self] _ in self?.close(nil) }
    }

    /// Our own address, for URLs when the request has no usable Host header.
    private var localAddress: String { socket.localAddress?.description ?? "127.0.0.1" }

    func close(_ reason: String?) {
        guard !isClosed else { return }
        isClosed = true
        if let reason { logger.debug("closed: \(reason)") }
        timer.close()
        resolving?.abandon()
        resolving = nil
        client.close()
        target?.close()
        relay = nil
        let done = onClosed
        onClosed = nil
        done?(self, answered)
    }
}
