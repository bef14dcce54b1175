import Logging

/// `uvtunnel udp`: one UDP socket listening for local clients, a session per
/// client address (its own gateway connection, as pomerium-cli's HTTP/1.1
/// path, or with `--multiplex` a stream on a shared HTTP/2 connection), and the limits that keep a flood of client addresses from taking
/// the process down: at most `maxSessions` sessions, each idle one closed
/// after `idleMilliseconds`.
public final class UDPTunnelServer: RecheckedServer {
    public struct Settings: Sendable {
        /// Sessions open at once; datagrams from new clients beyond it are dropped.
        public var maxSessions = 1_000
        /// A session with no datagram either way for this long is closed (`--udp-idle-timeout`).
        public var idleMilliseconds: UInt64 = 120_000
        /// Datagrams a session holds while its gateway connection opens.
        public var queueLimit = 64
        /// Receive and send buffer asked of the kernel for the listening socket
        /// (one socket for every client: 4 MiB holds a burst at 100 Mbit/s).
        public var socketBufferBytes: Int32 = 4 << 20

        public init() {}
    }

    public struct Counters: Equatable, Sendable {
        public var sessionsOpened = 0
        public var sessionsClosed = 0
        /// Datagrams from new clients while the table was full.
        public var droppedSessionLimit = 0
        /// Datagrams dropped from a full pre-101 queue.
        public var droppedQueueFull = 0
        /// Datagrams too large for one capsule buffer.
        public var droppedTooLarge = 0
        /// Datagrams from clients outside `--allow-from`.
        public var droppedNotAllowed = 0
        /// Datagrams (and payload bytes) taken from clients into a session.
        public var datagramsUp = 0
        public var bytesUp: Int64 = 0
        /// Datagrams (and payload bytes) sent back to clients by sessions that have closed.
        var closedDatagramsDown = 0
        var closedBytesDown: Int64 = 0
    }

    /// Datagrams and bytes sent back to clients, closed sessions and open ones.
    public var down: (datagrams: Int, bytes: Int64) {
        sessions.values.reduce((counters.closedDatagramsDown, counters.closedBytesDown)) {
            ($0.0 + $1.stream.datagramsDown, $0.1 + $1.stream.bytesDown)
        }
    }

    private struct Session {
        let stream: UDPClientStream
        let tunnel: Tunnel
    }

    private let loop: EventLoop
    private let sharedOptions: SharedOptions
    private let tokens: TokenSource
    private let connector: UDPConnectorAdapter
    private let logger: Logger
    private let settings: Settings
    private var socket: UDPSocket?
    /// Keyed by the client's address and port, as text ("127.0.0.1:5353").
    private var sessions: [String: Session] = [:]
    private var nextID = 1
    private var sweepTimer: UVTimer?
    /// When the last "session limit reached" line was logged (one a minute at most).
    private var lastLimitLog: UInt64?
    /// When the last "not in --allow-from" line was logged (one a minute at most).
    private var lastRefusalLog: UInt64?
    public private(set) var counters = Counters()
    private let probe = GatewayProbe()

    public init(loop: EventLoop, options: TunnelOptions, tokens: TokenSource, settings: Settings = Settings(),
                connector: UDPGatewayConnector? = nil, logger: Logger) {
        self.loop = loop
        sharedOptions = SharedOptions(options)
        self.tokens = tokens
        self.connector = UDPConnectorAdapter(connector ?? HTTP1Connector(loop: loop, options: options, logger: logger))
        self.logger = logger
        self.settings = settings
    }

    public var openSessionCount: Int { sessions.count }
    /// `RecheckedServer`'s name for `openSessionCount`.
    public var openTunnelCount: Int { openSessionCount }
    public var route: Route { sharedOptions.value.route }
    /// `--multiplex`: the gateway's shared HTTP/2 connections (the metrics' gauges).
    public var sharedConnections: [SharedConnectionInfo] { connector.sharedConnections }
    public var listenAddress: SocketAddress? { socket?.address }

    /// Binds the UDP socket and starts serving; returns the bound address.
    @discardableResult
    public func listen(on address: SocketAddress) throws(UVError) -> SocketAddress {
        let socket = try UDPSocket(loop: loop, binding: address)
        self.socket = socket
        let granted = socket.setBufferSizes(settings.socketBufferBytes)
        logger.debug("UDP \(socket.address): socket buffers \(granted.receive) bytes in, \(granted.send) out")
        socket.onReceiveError = { [weak self] error in self?.logger.debug("\(error)") }
        do throws(UVError) {
            try socket.startReceiving { [weak self] buffer, sender in
                guard let self else { return }
                self.received(buffer, from: sender)
            }
        } catch {
            close()
            throw error
        }
        let sweep = UVTimer(loop: loop)
        sweepTimer = sweep
        // Checked often enough that a session closes within an eighth of the timeout of going idle.
        let every = max(settings.idleMilliseconds / 8, 10)
        sweep.start(milliseconds: every, repeat: every) { [weak self] in self?.closeIdleSessions() }
        return socket.address
    }

    private func received(_ buffer: Buffer, from sender: SocketAddress) {
        if let session = sessions[sender.description] { return take(buffer, into: session.stream) }
        let options = sharedOptions.value
        guard options.admits(sender) else {
            loop.buffers.give(buffer)
            counters.droppedNotAllowed += 1
            if Self.due(&lastRefusalLog, now: loop.now) {
                let networks = options.allowFromText
                logger.warning("dropped datagrams from \(sender): not in \(options.spelling.name("allow-from")) \(networks) (\(counters.droppedNotAllowed) so far; one line a minute)")
            }
            return
        }
        guard sessions.count < settings.maxSessions else {
            loop.buffers.give(buffer)
            counters.droppedSessionLimit += 1
            if Self.due(&lastLimitLog, now: loop.now) {
                logger.warning("UDP session limit of \(settings.maxSessions) reached: datagrams from new clients are dropped (\(counters.droppedSessionLimit) so far)")
            }
            return
        }
        guard let socket else { return loop.buffers.give(buffer) }
        let stream = UDPClientStream(client: sender, socket: socket, loop: loop, queueLimit: settings.queueLimit)
        let id = nextID
        nextID += 1
        var sessionLogger = logger
        sessionLogger[metadataKey: "client"] = "\(sender)"
        let tunnel = Tunnel(id: id, loop: loop, local: stream, options: sharedOptions, tokens: tokens,
                            connector: connector, logger: sessionLogger) { [weak self] tunnel, _ in
            self?.closed(tunnel, client: sender)
        }
        stream.onGatewayEnded = { [weak tunnel] broken in
            tunnel?.close(broken.map { .failed(.relay(side: .gateway, message: "capsule stream: \($0)")) } ?? .completed)
        }
        sessions[sender.description] = Session(stream: stream, tunnel: tunnel)
        counters.sessionsOpened += 1
        take(buffer, into: stream)
        tunnel.start()
    }

    private func take(_ buffer: Buffer, into stream: UDPClientStream) {
        let drops = stream.queueDrops
        let size = buffer.count
        if stream.received(buffer) {
            counters.datagramsUp += 1
            counters.bytesUp += Int64(size)
        } else {
            counters.droppedTooLarge += 1
        }
        counters.droppedQueueFull += stream.queueDrops - drops
    }

    /// True at most once a minute: a flood costs one log line, not one per datagram.
    private static func due(_ last: inout UInt64?, now: UInt64) -> Bool {
        guard last.map({ now - $0 >= 60_000 }) ?? true else { return false }
        last = now
        return true
    }

    private func closed(_ tunnel: Tunnel, client: SocketAddress) {
        guard let session = sessions[client.description], session.tunnel === tunnel else { return }
        sessions[client.description] = nil
        counters.sessionsClosed += 1
        counters.closedDatagramsDown += session.stream.datagramsDown
        counters.closedBytesDown += session.stream.bytesDown
    }

    private func closeIdleSessions() {
        let now = loop.now
        let idle = sessions.values.filter { now - $0.stream.lastActivity >= settings.idleMilliseconds }
        for session in idle {
            session.tunnel.close(.completed)
        }
    }

    /// Asks the gateway whether our token is still admitted for the route:
    /// a connect-udp request that hangs up as soon as the answer is in.
    public func probeGateway(completion: @escaping (Int?) -> Void) {
        probe.start(connector: connector, destination: route.destination, tokens: tokens, logger: logger, completion: completion)
    }

    /// Ends every session now, saying why (a recheck found the route no
    /// longer admitted); a client's next datagram opens a new one.
    public func closeAll(reason: String) {
        for session in Array(sessions.values) { session.tunnel.close(.failed(.revoked(reason))) }
    }

    /// Stops listening and ends every session.
    public func close() {
        probe.cancel()
        sweepTimer?.close()
        sweepTimer = nil
        // UDP has nothing to drain: a relaying session just ends, one still opening is cut short.
        for session in Array(sessions.values) {
            session.tunnel.close(session.tunnel.state == .relaying ? .completed : .failed(.shutdown(drained: false)))
        }
        socket?.close()
        socket = nil
        connector.shutdown()
    }
}

/// Lets a Tunnel open a UDP session through the one seam it knows: its
/// "stream to the destination" is the capsule stream after the 101.
final class UDPConnectorAdapter: GatewayConnector {
    private let udp: UDPGatewayConnector

    init(_ udp: UDPGatewayConnector) { self.udp = udp }

    var gatewayName: String { udp.gatewayName }

    func open(destination: String, token: String?,
              completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        udp.openUDP(destination: destination, token: token, completion: completion)
    }

    /// The listener stopped: a connector that keeps connections between
    /// sessions (a `--multiplex` lease on the gateway's shared ones) gives them back.
    func shutdown() { (udp as? GatewayConnector)?.shutdown() }

    var sharedConnections: [SharedConnectionInfo] { (udp as? GatewayConnector)?.sharedConnections ?? [] }
}
