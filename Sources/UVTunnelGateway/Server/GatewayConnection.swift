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
    /// A connect-udp session's socket to the target, and its relay.
    private var udpSocket: UDPSocket?
    private var udpRelay: GatewayUDPRelay?
    private var parser = ConnectRequestParser()
    private var relay: Relay?
    private var answered: Int?
    private var resolving: ResolveRequest?
    private var isClosed = false
    private var onClosed: ((GatewayConnection, Int?) -> Void)?
    /// Takes over a TLS connection whose ALPN chose h2.
    private var onHTTP2: ((GatewayConnection, TLSStream) -> Void)?

    init(id: Int, loop: EventLoop, client: UVStream, options: GatewayOptions, logger: Logger,
         onHTTP2: ((GatewayConnection, TLSStream) -> Void)? = nil,
         onClosed: @escaping (GatewayConnection, Int?) -> Void) {
        self.id = id
        self.loop = loop
        socket = client
        self.client = client
        self.options = options
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(id)"
        self.onClosed = onClosed
        self.onHTTP2 = onHTTP2
        timer = UVTimer(loop: loop)
    }

    func start() {
        socket.spreadKeepAliveIdle()  // TCP_NODELAY and keepalive came from the listener
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
            if tls.negotiatedProtocol == "h2" { return self.handOver(tls) }
            self.readRequest()
        }
    }

    /// ALPN chose h2: the TLS stream (and the socket under it) now belongs
    /// to an HTTP/2 session; this object lets go of it without closing it.
    private func handOver(_ tls: TLSStream) {
        guard let takeOver = onHTTP2 else { return close("ALPN chose h2 but HTTP/2 is not served") }
        isClosed = true
        timer.close()
        onHTTP2 = nil
        let done = onClosed
        onClosed = nil
        done?(self, nil)
        takeOver(self, tls)
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
        let udpTarget = ConnectUDPPath.target(head)
        guard head.method == "CONNECT" || udpTarget != nil else {
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
        let verdict = ConnectAdmission.judge(target: udpTarget ?? head.target, token: head.pomeriumToken(),
                                             isUDP: udpTarget != nil, options: options)
        guard case .dial(let destination) = verdict else {
            loop.buffers.give(early)
            guard case .refuse(let status, let reason, let location, let why) = verdict else { return }
            return respond(status, reason, extra: location.map { "Location: \($0)\r\n" } ?? "", why: why)
        }
        if udpTarget != nil { return dialUDP(destination, early: early) }
        dial(destination, early: early)
    }

    /// connect-udp: resolve the target, make a socket for it, answer 101,
    /// then relay capsules and datagrams.
    private func dialUDP(_ destination: ConnectTarget, early: Buffer) {
        let pool = loop.buffers
        resolving = GatewayUDPRelay.openSocket(for: destination, loop: loop) { [weak self] result in
            guard let self, !self.isClosed, self.answered == nil else {
                if case .success(let (socket, _)) = result { socket.close() }
                return pool.give(early)
            }
            self.resolving = nil
            guard case .success(let (socket, address)) = result else {
                pool.give(early)
                if case .failure(let failure) = result { self.respond(502, "Bad Gateway", why: failure.why) }
                return
            }
            self.udpSocket = socket
            self.timer.stop()
            self.answered = 101
            let reply = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: connect-udp\r\nCapsule-Protocol: ?1\r\n\r\n"
            self.client.write(pool.buffers(copying: Array(reply.utf8))) { _ in }
            let relay = GatewayUDPRelay(loop: self.loop, client: self.client, socket: socket, target: address) { [weak self] reason in
                self?.close(reason)
            }
            self.udpRelay = relay
            do throws(UVError) {
                try relay.start(early: early)
            } catch {
                self.close("UDP socket for \(destination): \(error.reason)")
            }
        }
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
        let relay = Relay(a: target, b: client, pool: loop.buffers, loop: loop) { [weak self] end in
            switch end {
            case .completed: self?.close(nil)
            case .failed(_, let reason), .peerLeft(_, let reason): self?.close(reason)
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
        udpSocket?.close()
        udpRelay = nil
        relay = nil
        let done = onClosed
        onClosed = nil
        onHTTP2 = nil
        done?(self, answered)
    }
}
