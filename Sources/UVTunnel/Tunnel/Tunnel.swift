import Logging

/// One local connection carried to its destination: get a token, ask the
/// connector for a stream, relay. It decides policy only (which token, one
/// sign-in and one retry after a 3xx/401, how long it may live); how the
/// stream is made is the connector's. Exactly one way out: `close(_:)`.
///
/// The local side is not read until the relay starts, so bytes a client sends
/// early wait in the kernel and nothing is lost while the tunnel is set up;
/// except that with a connector that carries early data (HTTP/2) its first
/// read is taken at once and sent behind the request. The tunnel keeps that
/// read until the relay starts: a retry after sign-in sends it again, and
/// an attempt that did not carry it has the relay send it first.
public final class Tunnel {
    public enum State: Equatable {
        case waitingForToken, connecting, relaying, closed
    }

    /// How the tunnel ended, for the log line and the statistics.
    public enum Outcome: Equatable {
        case completed
        case failed(TunnelFailure)

        /// The `outcome` label of `uvtunnel_tunnels_total`.
        public var metricClass: String {
            switch self {
            case .completed: return "completed"
            case .failed(let failure): return failure.metricClass
            }
        }
    }

    public let id: Int
    private let loop: EventLoop
    private let sharedOptions: SharedOptions
    private var options: TunnelOptions { sharedOptions.value }
    private let tokens: TokenSource
    private let connector: GatewayConnector
    /// The server's logger, shared: a copy per tunnel with the id as metadata
    /// cost every idle tunnel ~400 bytes (a handler box and a dictionary), so
    /// the id is added only when a line is logged.
    private let serverLogger: Logger
    /// The line's logger, with the tunnel's id (and its connection and
    /// stream on a shared one). Built only for a line that is printed:
    /// setting metadata makes the handler format all of it again, which was
    /// a quarter of the client's instructions per `--multiplex` tunnel.
    private func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message,
                     metadata: @autoclosure () -> Logger.Metadata? = nil) {
        guard serverLogger.logLevel <= level else { return }
        logger.log(level: level, message(), metadata: metadata())
    }

    private var logger: Logger {
        var logger = serverLogger
        logger[metadataKey: "tunnel"] = "\(id)"
        if let shared = gateway as? SharedConnectionStream {
            for (key, value) in shared.logMetadata { logger[metadataKey: key] = "\(value)" }
        }
        return logger
    }
    private let local: ByteStream
    private let startedAt: UInt64

    public private(set) var state: State = .waitingForToken
    /// In the loop's `connectionsOpening` (from start until relaying or closed):
    /// the memory reclaimer does not trim the heap while handshakes run.
    private var isCountedOpening = false
    private var attempt: ConnectAttempt?
    private var gateway: ByteStream?
    private var relay: Relay?
    /// Only with a maximum lifetime: most tunnels keep no timer handle.
    private var lifetimeTimer: UVTimer?
    private var sentToken: String?
    /// A 3xx/401 leads to one sign-in and one retry, never a loop.
    private var retried = false
    private var onClosed: ((Tunnel, Outcome) -> Void)?
    /// Accept to relay start, for the setup-latency metric.
    public private(set) var setupMilliseconds: UInt64?
    public var bytesUp: Int64 { relay.map { $0.bytesAToB + earlyBytesSent } ?? closedBytes.up }
    public var bytesDown: Int64 { relay?.bytesBToA ?? closedBytes.down }
    private var closedBytes: (up: Int64, down: Int64) = (0, 0)
    /// The relay ended because the local client had gone: said on the closing line.
    private var localLeftFirst = false
    /// The local client's first read, taken while connecting (see above),
    /// copied out of its pool buffer: a burst of tunnels waiting for
    /// answers or a sign-in holds their few bytes, not 64 KiB each.
    private var early: [UInt8]?
    /// The local client ended its side before the answer: the relay reads
    /// EOF after `early` instead of the socket.
    private var earlyEnded = false
    private var readingEarly = false
    /// Early bytes the gateway stream carried before the answer: the relay
    /// did not count them.
    private var earlyBytesSent: Int64 = 0
    /// The relay's local side when early bytes or an early EOF go first.
    private var prefixedLocal: ByteStream?
    /// Where the connector is, while the tunnel is connecting.
    public var connectStage: ConnectStage? { attempt?.stage }

    init(id: Int, loop: EventLoop, local: ByteStream, options: SharedOptions, tokens: TokenSource,
         connector: GatewayConnector, logger: Logger, onClosed: @escaping (Tunnel, Outcome) -> Void) {
        self.id = id
        self.loop = loop
        self.local = local
        sharedOptions = options
        self.tokens = tokens
        self.connector = connector
        serverLogger = logger
        self.onClosed = onClosed
        startedAt = loop.now
    }

    public func start() {
        guard state != .closed else { return }  // closed before it started: stays closed, logs nothing more
        isCountedOpening = true
        loop.connectionStartedOpening()
        let availability = tokens.token { [weak self] result in self?.tokenArrived(result) }
        proceed(availability)
    }

    /// Acts on what the token source said: go, wait, or give up.
    private func proceed(_ availability: TokenAvailability) {
        switch availability {
        case .now(let token): connect(with: token)
        case .later:
            state = .waitingForToken
            log(.debug, "waiting for sign-in")
        case .failed(let failure): close(.failed(.signIn(failure)))
        }
    }

    private func tokenArrived(_ result: Result<String, SignInFailure>) {
        guard state == .waitingForToken else { return }
        switch result {
        case .success(let token): connect(with: token)
        case .failure(let failure): close(.failed(.signIn(failure)))
        }
    }

    private func connect(with token: String?) {
        sentToken = token
        state = .connecting
        log(.debug, "connecting", metadata: ["gateway": "\(connector.gatewayName)", "destination": "\(options.route.destination)"])
        let attempt = connector.open(destination: options.route.destination, token: token) { [weak self] result in
            guard let self else {
                if case .success(let stream) = result { stream.close() }
                return
            }
            let carried = self.attempt?.carriedEarly ?? false
            self.attempt = nil
            switch result {
            case .success(let stream): self.startRelay(to: stream, earlyCarried: carried)
            case .failure(let failure): self.connectFailed(failure)
            }
        }
        self.attempt = attempt
        if let early {
            attempt.carryEarly(early)
        } else if connector.carriesEarlyData {
            readEarly()
        }
    }

    // MARK: Early bytes

    /// Reads the local client's first bytes while the request goes out, so
    /// they follow it now, not a round trip later (a client speaks first
    /// in most protocols: TLS, RDP, HTTP). One read, then the socket waits.
    /// Bytes already there (a client writes right after its connect) are
    /// read at once, so they share the request's write and the gateway has
    /// them when its target connects, not a round trip later.
    private func readEarly() {
        guard !readingEarly, early == nil, !earlyEnded else { return }
        if let waiting = local.readWaiting() { return earlyRead(waiting) }
        readingEarly = true
        local.onRead = { [weak self] event in self?.earlyRead(event) }
        local.startReading()
    }

    private func earlyRead(_ event: ReadEvent) {
        stopReadingEarly()
        switch event {
        case .data(let buffer):
            let bytes = buffer.bytes
            loop.buffers.give(buffer)
            guard state != .closed else { return }
            early = bytes
            attempt?.carryEarly(bytes)
        case .eof:
            earlyEnded = true
        case .error(let error):
            close(.failed(.relay(side: .local, message: error.message)))
        }
    }

    private func stopReadingEarly() {
        guard readingEarly else { return }
        readingEarly = false
        local.stopReading()
        local.onRead = nil
    }

    private func connectFailed(_ failure: TunnelFailure) {
        guard case .answered(let status) = failure, ConnectOutcome(status: status) == .signInRequired else {
            return close(.failed(failure))
        }
        guard !retried else { return close(.failed(.rejectedAfterSignIn(status: status))) }
        // 3xx/401: get a token from one shared sign-in and try once more. The
        // local side has not been read, so nothing the client sent is lost meanwhile.
        retried = true
        log(.info, "auth required: \(ConnectOutcome.logMessage(status: status))")
        state = .waitingForToken
        proceed(tokens.rejected(sentToken) { [weak self] result in self?.tokenArrived(result) })
    }

    // MARK: Relay

    private func startRelay(to gateway: ByteStream, earlyCarried: Bool) {
        self.gateway = gateway
        stopReadingEarly()
        if earlyCarried, let early {
            earlyBytesSent = Int64(early.count)
            self.early = nil
        }
        var localSide = local
        if early != nil || earlyEnded {
            // One pool buffer's worth at most: it came from one read.
            let first = early.flatMap { loop.buffers.buffers(copying: $0).first }
            localSide = PrefixedStream(local, first: first, thenEOF: earlyEnded, pool: loop.buffers)
            early = nil
            prefixedLocal = localSide
        }
        state = .relaying
        finishOpening()
        setupMilliseconds = loop.now - startedAt
        if let lifetime = options.maxLifetimeMilliseconds {
            let timer = UVTimer(loop: loop)
            lifetimeTimer = timer
            timer.start(milliseconds: lifetime) { [weak self] in self?.close(.failed(.lifetimeReached(milliseconds: lifetime))) }
        }
        log(.debug, "connected")
        let relay = Relay(a: localSide, b: gateway, pool: loop.buffers, loop: loop) { [weak self] end in
            switch end {
            case .completed: self?.close(.completed)
            case .peerLeft(.a, _):
                // The local client quit without taking the rest (xfreerdp
                // closing, a client reset): how sessions normally end.
                self?.localLeftFirst = true
                self?.close(.completed)
            case .failed(let side, let message), .peerLeft(let side, let message):
                self?.close(.failed(.relay(side: side == .a ? .local : .gateway, message: message)))
            }
        }
        self.relay = relay
        relay.start()
    }

    // MARK: Closing

    /// Leaves the loop's count of tunnels opening (once, however it ends).
    private func finishOpening() {
        guard isCountedOpening else { return }
        isCountedOpening = false
        loop.connectionFinishedOpening()
    }

    /// The one way out: cancels the connector's attempt, closes both sides and
    /// the timer, logs one line, and tells the owner. Idempotent.
    public func close(_ outcome: Outcome) {
        guard state != .closed else { return }
        let wasRelaying = state == .relaying
        state = .closed
        finishOpening()
        loop.connectionClosed()
        lifetimeTimer?.close()
        lifetimeTimer = nil
        attempt?.cancel()
        attempt = nil
        stopReadingEarly()
        early = nil
        prefixedLocal?.close()
        local.close()
        gateway?.close()
        let seconds = Double(loop.now - startedAt) / 1000
        let up = relay.map { $0.bytesAToB + earlyBytesSent } ?? 0
        let down = relay?.bytesBToA ?? 0
        closedBytes = (up, down)
        let destination = options.route.destination
        switch outcome {
        case .completed:
            let note = localLeftFirst ? " (the local client left first)" : ""
            log(.info, "disconnected \(destination): \(up) bytes up, \(down) bytes down, \(seconds.formatted1)s\(note)")
        case .failed(let failure):
            let reason = options.explain(failure)
            if failure.isRefusal {
                log(.error, "refused \(destination): \(reason)")
            } else if failure == .shutdown(drained: false) {
                log(.info, "failed \(destination): \(reason)")  // the user stopped uvtunnel: not an error
            } else if wasRelaying {
                log(.warning, "disconnected \(destination): \(up) bytes up, \(down) bytes down, \(seconds.formatted1)s: \(reason)")
            } else {
                log(.error, "failed \(destination): \(reason)")
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
