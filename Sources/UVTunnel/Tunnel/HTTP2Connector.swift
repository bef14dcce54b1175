import Logging
import Synchronization

/// `--multiplex`: tunnels as streams on a few shared TLS connections (ALPN
/// h2) to the gateway. A tunnel goes on the first connection with a free
/// slot (at most `maxStreams`, never more than the server's
/// SETTINGS_MAX_CONCURRENT_STREAMS); when all are full it waits for a new
/// connection. A connection without streams closes after `idleMilliseconds`.
/// When the gateway's ALPN does not pick h2, this gateway's tunnels go over
/// HTTP/1.1 from then on, with one warning.
public final class HTTP2Connector: GatewayConnector {
    let loop: EventLoop
    let options: TunnelOptions
    private let target: DialTarget
    private let settings: HTTP2Settings
    private let idleMilliseconds: UInt64
    let logger: Logger
    public let gatewayName: String
    private(set) var connections: [HTTP2Connection] = []
    private var dials: [HTTP2Dial] = []
    private var fallback: HTTP1Connector?
    /// connect-udp when the gateway speaks h2 but takes no extended CONNECT
    /// (HTTP2Connector+UDP.swift); the tcp tunnels stay multiplexed.
    var udpFallback: HTTP1Connector?
    /// Which way UDP sessions went, once logged (one info line per gateway, and per change).
    var udpWayLogged: Bool?

    /// `tls`: a client context offering ALPN `h2,http/1.1` (the options' own
    /// context offers http/1.1 only and is what the fallback uses).
    public init(loop: EventLoop, options: TunnelOptions, tls: TLSContext?, settings: HTTP2Settings = HTTP2Settings(),
                idleMilliseconds: UInt64 = 30_000, logger: Logger) {
        self.loop = loop
        self.options = options
        self.settings = settings
        self.idleMilliseconds = idleMilliseconds
        self.logger = logger
        (target, gatewayName) = DialTarget.gateway(of: options, tls: tls)
        if options.tls == nil || tls == nil {
            logger.warning("multiplexing needs an https:// gateway; \(gatewayName) gets one HTTP/1.1 connection per tunnel")
            fallback = HTTP1Connector(loop: loop, options: options, logger: logger)
        }
    }

    /// Shared connections open now.
    public var connectionCount: Int { connections.count }

    /// A stream's DATA may follow its HEADERS before the answer (HTTP/2
    /// frames them apart from the request, unlike bytes after an HTTP/1.1
    /// CONNECT head); after an ALPN fallback the attempt carries nothing.
    /// `--no-early-data` (`HTTP2Settings.earlyData`) turns it off.
    public var carriesEarlyData: Bool { settings.earlyData }

    public var sharedConnections: [SharedConnectionInfo] {
        connections.map { SharedConnectionInfo(gateway: gatewayName, name: "h2-\($0.id)", streams: $0.session.openStreamCount) }
    }

    public func open(destination: String, token: String?,
                     completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        open(destination: destination, token: token, timeoutMilliseconds: options.connectTimeoutMilliseconds, completion: completion)
    }

    /// As `open`, within `timeoutMilliseconds`: a route sharing this
    /// connector (`HTTP2ConnectorRegistry`) brings its own --connect-timeout.
    public func open(destination: String, token: String?, timeoutMilliseconds: UInt64,
                     completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        let attempt = HTTP2ConnectAttempt(loop: loop, connector: self, destination: destination, token: token,
                                          timeoutMilliseconds: timeoutMilliseconds, completion: completion)
        attempt.starting { place(attempt) }
        return attempt
    }

    /// Dropped without `shutdown()`: its connections and dials still close.
    deinit {
        shutdown()
    }

    public func shutdown() {
        for dial in dials {
            dial.cancel()
            dial.connection?.close()
        }
        dials.removeAll()
        for connection in connections { connection.close() }
        connections.removeAll()
    }

    // MARK: Placing streams

    /// On a connection with a free slot, else with a connection being dialled, else on a new one.
    func place(_ attempt: HTTP2ConnectAttempt) {
        if let fallback { return attempt.delegate(to: fallback) }
        if let connection = connections.first(where: { $0.session.canOpenStream }) {
            if attempt.isUDP, !connection.session.acceptsExtendedConnect { return attempt.delegate(to: udpOverHTTP1()) }
            if attempt.isUDP { noteUDPWay(extendedConnect: true) }
            return attempt.open(on: connection.session, userAgent: options.userAgent)
        }
        if let dial = dials.first(where: { $0.waiting.count < settings.maxStreams }) {
            return dial.add(attempt)
        }
        guard connections.count + dials.count < settings.maxConnections else {
            return attempt.finish(.failure(.http2(.connectionLimit(settings.maxConnections))))
        }
        let dial = HTTP2Dial(loop: loop, target: target) { [weak self] dial, result in
            self?.dialled(dial, result)
        }
        dials.append(dial)
        dial.add(attempt)
        dial.start()
    }

    func withdraw(_ attempt: HTTP2ConnectAttempt, from dial: HTTP2Dial) {
        dial.remove(attempt)
        // Nobody waits for it any more: a dial that is stuck is not worth
        // finishing, nor a connection whose SETTINGS never came (new tunnels
        // would join it and time out in turn); the next tunnel dials afresh.
        guard dial.waiting.isEmpty else { return }
        dials.removeAll { $0 === dial }
        dial.cancel()
        dial.connection?.close()
    }

    private func dialled(_ dial: HTTP2Dial, _ result: Result<ByteStream, DialFailure>) {
        dials.removeAll { $0 === dial }
        let waiting = dial.waiting
        switch result {
        case .failure(let failure):
            for attempt in waiting { attempt.finish(.failure(.dial(failure))) }
        case .success(let stream):
            let chosen = (stream as? TLSStream)?.negotiatedProtocol
            guard chosen == "h2" else {
                stream.close()
                fallBack(chosen: chosen)
                for attempt in waiting { attempt.delegate(to: fallback!) }
                return
            }
            let connection: HTTP2Connection
            do {
                connection = try HTTP2Connection(id: HTTP2Connector.connectionNumbers.next(), transport: stream, loop: loop,
                                                 settings: settings, idleMilliseconds: idleMilliseconds)
            } catch {
                for attempt in waiting { attempt.finish(.failure(.http2(error))) }
                return
            }
            logger.debug("opened HTTP/2 connection \(connection.id) to \(gatewayName)", metadata: ["connection": "h2-\(connection.id)"])
            // Its attempts wait until the server's SETTINGS say how many streams it takes.
            dials.append(dial)
            dial.connection = connection
            connection.onReady = { [weak self, weak dial] in
                guard let self, let dial else { return }
                self.ready(dial)
            }
            connection.onClosed = { [weak self, weak connection, weak dial] reason in
                guard let self, let connection else { return }
                self.connections.removeAll { $0 === connection }
                self.logClosed(connection, reason: reason)
                // Closed before its SETTINGS came: its attempts fail here, once each.
                guard let dial, self.dials.contains(where: { $0 === dial }) else { return }
                self.dials.removeAll { $0 === dial }
                let failure = TunnelFailure.http2(.connectionLost(reason ?? "the connection was closed"))
                for attempt in dial.waiting { attempt.finish(.failure(failure)) }
            }
            connection.start()
        }
    }

    /// The connection's SETTINGS arrived: it joins the pool and its attempts are placed.
    private func ready(_ dial: HTTP2Dial) {
        guard let connection = dial.connection, dials.contains(where: { $0 === dial }) else { return }
        dials.removeAll { $0 === dial }
        connections.append(connection)
        let waiting = dial.waiting
        // A connection that takes no stream at all (SETTINGS_MAX_CONCURRENT_STREAMS
        // 0, or a GOAWAY with its SETTINGS) fails the tunnels that dialled it:
        // placing them again would dial again, and so on without end.
        guard connection.session.canOpenStream else {
            let why = connection.session.isGoingAway ? "it sent GOAWAY" : "its SETTINGS allow 0 concurrent streams"
            for attempt in waiting { attempt.finish(.failure(.http2(.takesNoStreams(why)))) }
            return connection.close()
        }
        for attempt in waiting { place(attempt) }
        connection.closeWhenUnused()
    }

    /// Connection numbers unique in the process, so "h2-3" names one
    /// connection in log lines and metrics whichever route's connector made it.
    private static let connectionNumbers = Counter()

    /// One counter shared by every connector (and loop) in the process.
    private final class Counter: Sendable {
        private let value = Mutex(0)
        func next() -> Int { value.withLock { $0 += 1; return $0 } }
    }

    /// A connection closed on purpose, or idle when the gateway ended it,
    /// is routine (debug); one that failed while carrying tunnels, or ended
    /// with an error code either side sent, is a warning with the reason.
    private func logClosed(_ connection: HTTP2Connection, reason: String?) {
        let metadata: Logger.Metadata = ["connection": "h2-\(connection.id)"]
        let lost = connection.session.streamsLostAtClose
        guard let reason else {
            return logger.debug("closed HTTP/2 connection \(connection.id) to \(gatewayName)", metadata: metadata)
        }
        let line = "HTTP/2 connection \(connection.id) to \(gatewayName) ended: \(reason)"
        if lost > 0 || connection.session.endedWithErrorCode {
            logger.warning("\(line)\(lost > 0 ? " (\(lost) tunnel(s) on it closed)" : "")", metadata: metadata)
        } else {
            logger.debug("\(line)", metadata: metadata)
        }
    }

    private func fallBack(chosen: String?) {
        guard fallback == nil else { return }
        logger.warning("gateway \(gatewayName) did not choose HTTP/2 (ALPN: \(chosen ?? "none")); multiplexing is off for it, each tunnel gets its own HTTP/1.1 connection")
        fallback = HTTP1Connector(loop: loop, options: options, logger: logger)
    }
}
