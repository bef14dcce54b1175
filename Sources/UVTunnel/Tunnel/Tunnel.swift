import Logging

/// One local connection carried to the gateway: a state machine from
/// "accepted" to "relaying" with exactly one way out, `close(_:)`.
///
/// The local side is not read until the relay starts, so bytes a client sends
/// early wait in the kernel and nothing is lost while the tunnel is set up.
public final class Tunnel {
    public enum State: Equatable {
        case waitingForToken, resolving, connecting, handshaking, awaitingAnswer, relaying, closed
    }

    /// How the tunnel ended, for the log line and the statistics.
    public enum Outcome: Equatable {
        case completed
        case refused(String)
        case failed(String)
    }

    public let id: Int
    private let loop: EventLoop
    private let sharedOptions: SharedOptions
    private var options: TunnelOptions { sharedOptions.value }
    private let tokens: TokenSource
    /// The server's logger, shared: a copy per tunnel with the id as metadata
    /// cost every idle tunnel ~400 bytes (a handler box and a dictionary), so
    /// the id is added only when a line is logged.
    private let serverLogger: Logger
    private var logger: Logger {
        var logger = serverLogger
        logger[metadataKey: "tunnel"] = "\(id)"
        return logger
    }
    private let local: ByteStream
    private let timer: UVTimer
    private let startedAt: UInt64

    public private(set) var state: State = .waitingForToken
    /// Reaching the gateway (resolve, connect, egress proxy, TLS); nil once it answered.
    private var dialer: GatewayDialer?
    private var gateway: ByteStream?
    private var parser = ResponseHeadParser()
    private var relay: Relay?
    private var sentToken: String?
    /// A 3xx/401 leads to one sign-in and one retry, never a loop.
    private var retried = false
    private var onClosed: ((Tunnel, Outcome) -> Void)?
    /// A probe (`--recheck-interval`) only asks whether the gateway still
    /// admits us: no sign-in, no retry, and it hangs up as soon as it knows.
    private let isProbe: Bool
    /// The gateway's answer to our CONNECT, once it came.
    public private(set) var answerStatus: Int?
    /// Accept to relay start, for the setup-latency metric.
    public private(set) var setupMilliseconds: UInt64?
    public var bytesUp: Int64 { relay?.bytesAToB ?? closedBytes.up }
    public var bytesDown: Int64 { relay?.bytesBToA ?? closedBytes.down }
    private var closedBytes: (up: Int64, down: Int64) = (0, 0)

    init(id: Int, loop: EventLoop, local: ByteStream, options: SharedOptions, tokens: TokenSource,
         logger: Logger, isProbe: Bool = false, onClosed: @escaping (Tunnel, Outcome) -> Void) {
        self.id = id
        self.isProbe = isProbe
        self.loop = loop
        self.local = local
        sharedOptions = options
        self.tokens = tokens
        serverLogger = logger
        self.onClosed = onClosed
        timer = UVTimer(loop: loop)
        startedAt = loop.now
    }

    public func start() {
        let availability = tokens.token { [weak self] result in self?.tokenArrived(result) }
        proceed(availability)
    }

    /// Acts on what the token source said: go, wait, or give up.
    private func proceed(_ availability: TokenAvailability) {
        switch availability {
        case .now(let token): dial(with: token)
        case .later where isProbe:
            close(.failed("sign-in under way; recheck skipped"))
        case .later:
            state = .waitingForToken
            logger.debug("waiting for sign-in")
        case .failed(let reason): close(.refused(reason))
        }
    }

    private func tokenArrived(_ result: Result<String, SignInFailure>) {
        guard state == .waitingForToken else { return }
        switch result {
        case .success(let token): dial(with: token)
        case .failure(let failure): close(.refused(failure.message))
        }
    }

    private func dial(with token: String?) {
        sentToken = token
        state = .resolving
        let seconds = Double(options.connectTimeoutMilliseconds) / 1000
        timer.start(milliseconds: options.connectTimeoutMilliseconds) { [weak self] in
            guard let self else { return }
            let doing = self.dialer?.activity ?? "in state \(self.state)"
            self.close(.failed("timed out after \(seconds.formatted1)s \(doing) (--connect-timeout)"))
        }
        let route = options.route
        let proxy = options.egressProxy.proxy(forHost: route.gatewayHost, port: route.gatewayPort, tls: options.tls != nil)
        logger.debug("connecting", metadata: ["gateway": "\(route.gatewayAuthority)", "destination": "\(route.destination)",
                                              "egress-proxy": "\(proxy?.authority ?? "none")"])
        let target = DialTarget(host: route.gatewayHost, port: route.gatewayPort, tls: options.tls,
                                verifyHostName: options.verifyHostName, proxy: proxy, userAgent: options.userAgent)
        let dialer = GatewayDialer(loop: loop, target: target) { [weak self] result in
            guard let self, self.state != .closed else { return }
            self.dialer = nil
            switch result {
            case .success(let stream):
                self.gateway = stream
                if let tls = stream as? TLSStream {
                    self.logger.trace("TLS established", metadata: ["version": "\(tls.protocolVersion)", "resumed": "\(tls.resumedSession)"])
                }
                self.sendConnect()
            case .failure(let error):
                self.close(.failed(error.message))
            }
        }
        // The dial's stages show in `state` (and so in a timeout's message).
        dialer.onStage = { [weak self] stage in
            guard let self, self.state != .closed else { return }
            switch stage {
            case .resolving: self.state = .resolving
            case .connecting, .proxyConnect: self.state = .connecting
            case .handshaking: self.state = .handshaking
            case .idle, .finished: break
            }
        }
        self.dialer = dialer
        dialer.start()
    }

    // MARK: CONNECT exchange

    private func sendConnect() {
        guard let gateway else { return }
        state = .awaitingAnswer
        let request = ConnectRequest.encode(destination: options.route.destination, token: sentToken,
                                            userAgent: options.userAgent)
        gateway.write(loop.buffers.buffers(copying: request)) { [weak self] error in
            guard let self, let error, self.state == .awaitingAnswer else { return }
            self.close(.failed("sending CONNECT to the gateway: \(error.message)"))
        }
        gateway.onRead = { [weak self] event in self?.answerRead(event) }
        gateway.startReading()
    }

    private func answerRead(_ event: ReadEvent) {
        switch event {
        case .data(let buffer):
            let step: HeadParseStep<ResponseHead>
            do {
                step = try buffer.withReadableBytes { try parser.feed($0) }
            } catch {
                loop.buffers.give(buffer)
                return close(.failed("\(error)"))
            }
            guard case .complete(let head, let consumed) = step else {
                return loop.buffers.give(buffer)
            }
            buffer.consume(consumed)
            answered(head, leftover: buffer)
        case .eof:
            close(.failed(parser.endOfInput().description))
        case .error(let error):
            close(.failed("reading the gateway's answer: \(error.message)"))
        }
    }

    private func answered(_ head: ResponseHead, leftover: Buffer) {
        let outcome = ConnectOutcome(status: head.status)
        answerStatus = head.status
        parser = ResponseHeadParser()  // its line buffer and headers would stay for the tunnel's life
        if isProbe {
            loop.buffers.give(leftover)
            return close(outcome == .open ? .completed : .refused(ConnectOutcome.logMessage(status: head.status)))
        }
        guard outcome == .open else {
            loop.buffers.give(leftover)
            var message = ConnectOutcome.logMessage(status: head.status)
            if outcome == .signInRequired {
                guard retried else { return signInAndRetry(status: head.status) }
                message += "; the gateway rejected the token from a fresh sign-in too"
            }
            return close(.refused(message))
        }
        startRelay(leftover: leftover)
    }

    /// 3xx/401: drop this gateway connection, get a token from one shared
    /// sign-in, and try once more. The local side has not been read, so
    /// nothing the client sent is lost meanwhile.
    private func signInAndRetry(status: Int) {
        retried = true
        timer.stop()
        gateway?.close()
        gateway = nil
        parser = ResponseHeadParser()
        logger.info("auth required: \(ConnectOutcome.logMessage(status: status))")
        state = .waitingForToken
        let rejected = sentToken
        proceed(tokens.rejected(rejected) { [weak self] result in self?.tokenArrived(result) })
    }

    // MARK: Relay

    private func startRelay(leftover: Buffer) {
        guard let gateway else { return }
        state = .relaying
        timer.stop()
        setupMilliseconds = loop.now - startedAt
        if let lifetime = options.maxLifetimeMilliseconds {
            timer.start(milliseconds: lifetime) { [weak self] in
                self?.close(.failed("closed after \((Double(lifetime) / 1000).formatted1)s (--max-tunnel-lifetime)"))
            }
        } else {
            timer.close()  // nothing left to time: its libuv handle need not live as long as the tunnel
        }
        gateway.stopReading()
        logger.debug("connected")
        let relay = Relay(a: local, b: gateway, pool: loop.buffers) { [weak self] end in
            switch end {
            case .completed: self?.close(.completed)
            case .failed(let reason): self?.close(.failed(reason))
            }
        }
        self.relay = relay
        relay.start(firstBytesForA: leftover)
    }

    // MARK: Closing

    /// The one way out: closes both sides and the timer, logs one line, and
    /// tells the owner. Idempotent.
    public func close(_ outcome: Outcome) {
        guard state != .closed else { return }
        let wasRelaying = state == .relaying
        state = .closed
        timer.close()
        dialer?.cancel()
        dialer = nil
        local.close()
        gateway?.close()
        let seconds = Double(loop.now - startedAt) / 1000
        let up = relay?.bytesAToB ?? 0
        let down = relay?.bytesBToA ?? 0
        closedBytes = (up, down)
        let summary = "\(options.route.destination): \(up) bytes up, \(down) bytes down, \(seconds.formatted1)s"
        switch outcome {
        case _ where isProbe:
            logger.debug("recheck probe: \(outcome)")
        case .completed:
            logger.info("disconnected \(summary)")
        case .refused(let reason):
            logger.error("refused \(options.route.destination): \(reason)")
        case .failed(let reason):
            if wasRelaying {
                logger.warning("disconnected \(summary): \(reason)")
            } else {
                logger.error("failed \(options.route.destination): \(reason)")
            }
        }
        relay = nil
        let done = onClosed
        onClosed = nil
        done?(self, outcome)
    }
}

extension Double {
    /// One decimal place, e.g. "2.5": log lines stay short.
    var formatted1: String {
        let tenths = (self * 10).rounded()
        return "\(Int(tenths) / 10).\(abs(Int(tenths)) % 10)"
    }
}
