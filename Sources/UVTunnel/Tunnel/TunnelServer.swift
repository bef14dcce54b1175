import Logging

/// Accepts local connections and runs a `Tunnel` for each; owns the registry
/// of open tunnels and the graceful shutdown (stop accepting, drain, close).
public final class TunnelServer: RecheckedServer {
    public struct Counters: Equatable {
        public var accepted = 0
        public var completed = 0
        public var refused = 0
        public var failed = 0
        public var acceptErrors = 0
        /// Local clients turned away by `--allow-from`.
        public var rejectedClients = 0
    }

    private let loop: EventLoop
    private let sharedOptions: SharedOptions
    private var options: TunnelOptions { sharedOptions.value }
    private let tokens: TokenSource
    private let connector: GatewayConnector
    private let logger: Logger
    private var listener: TCPListener?
    private var tunnels: [Int: Tunnel] = [:]
    private var nextID = 1
    private var drainTimer: UVTimer?
    private var isShuttingDown = false
    public private(set) var counters = Counters()
    /// Runs when the last tunnel has closed after `shutdown` (or in stdio mode).
    public var onDrained: (() -> Void)?
    /// Observes every tunnel's end (metrics, stdio mode's exit status).
    public var onTunnelClosed: ((Tunnel, Tunnel.Outcome) -> Void)?
    /// Runs when the server stopped accepting and its last tunnel closed.
    public var onFinished: (() -> Void)?
    private var isAccepting = true
    private let probe = GatewayProbe()

    /// `connector`: how tunnels reach the gateway; by default one HTTP/1.1
    /// connection per tunnel.
    public init(loop: EventLoop, options: TunnelOptions, tokens: TokenSource, connector: GatewayConnector? = nil,
                logger: Logger) {
        self.loop = loop
        sharedOptions = SharedOptions(options)
        self.tokens = tokens
        self.connector = connector ?? HTTP1Connector(loop: loop, options: options, logger: logger)
        self.logger = logger
    }

    public var openTunnelCount: Int { tunnels.count }
    /// The connector's shared gateway connections (`--multiplex`), for the metrics.
    public var sharedConnections: [SharedConnectionInfo] { connector.sharedConnections }
    public var waitingTunnelCount: Int { tunnels.values.filter { $0.state == .waitingForToken }.count }
    public var route: Route { options.route }
    public var listenAddress: SocketAddress? { listener?.address }
    /// Bytes so far of the tunnels still open (metrics add closed ones themselves).
    public var liveBytes: (up: Int64, down: Int64) {
        tunnels.values.reduce((Int64(0), Int64(0))) { ($0.0 + $1.bytesUp, $0.1 + $1.bytesDown) }
    }

    /// Starts listening; returns the bound address (the real port for `:0`).
    @discardableResult
    public func listen(on address: SocketAddress, backlog: Int32 = TCPListener.maximumBacklog, reusePort: Bool = false) throws(UVError) -> SocketAddress {
        serve(try TCPListener(loop: loop, address: address, backlog: backlog, reusePort: reusePort))
    }

    /// Serves a listening socket passed in by systemd (`LISTEN_FDS`).
    @discardableResult
    public func listen(adopting fd: Int32) throws(UVError) -> SocketAddress {
        serve(try TCPListener(loop: loop, adopting: fd))
    }

    private func serve(_ listener: TCPListener) -> SocketAddress {
        listener.onAcceptError = { [weak self] error in
            guard let self else { return }
            self.counters.acceptErrors += 1
            // One line per burst would be nicer; count them all, log the first few.
            if self.counters.acceptErrors <= 10 || self.counters.acceptErrors % 1000 == 0 {
                self.logger.warning("accept failed: \(error.reason) (\(self.counters.acceptErrors) so far); raise the descriptor limit with ulimit -n")
            }
        }
        // Keepalive on loopback too: a client that left while its direction
        // was paused may have gone without a FIN or RST (README, "A client
        // that leaves a stalled tunnel"); a keepalive probe draws the RST.
        // Set once here, inherited by every accepted socket.
        listener.setOptionsForAccepted()
        listener.start { [weak self] client in
            guard let self else { return client.close() }
            guard self.admits(client) else { return client.close() }
            client.spreadKeepAliveIdle()
            self.counters.accepted += 1
            self.open(local: client)
        }
        self.listener = listener
        return listener.address
    }

    /// `--allow-from`: is this local client's address in one of the networks?
    /// Checked before anything is read or dialled, so a stranger costs one
    /// accept and one log line, and never reaches the gateway or the token.
    private func admits(_ client: UVStream) -> Bool {
        guard !options.allowFrom.isEmpty else { return true }  // no getpeername per accept
        if options.admits(client.peerAddress) { return true }
        counters.rejectedClients += 1
        let networks = options.allowFromText
        let listen = listener.map { " on \($0.address)" } ?? ""
        logger.warning("refused local client \(client.peerAddress?.description ?? "(address unknown)")\(listen): not in \(options.spelling.name("allow-from")) \(networks)")
        return false
    }

    /// Carries one already-connected local stream (stdio mode uses this directly).
    public func open(local: ByteStream) {
        let id = nextID
        nextID += 1
        let tunnel = Tunnel(id: id, loop: loop, local: local, options: sharedOptions, tokens: tokens,
                            connector: connector, logger: logger) { [weak self] tunnel, outcome in
            self?.closed(tunnel, outcome)
        }
        tunnels[id] = tunnel
        tunnel.start()
    }

    private func closed(_ tunnel: Tunnel, _ outcome: Tunnel.Outcome) {
        tunnels[tunnel.id] = nil
        switch outcome {
        case .completed: counters.completed += 1
        case .failed(let failure) where failure.isRefusal: counters.refused += 1
        case .failed: counters.failed += 1
        }
        onTunnelClosed?(tunnel, outcome)
        if isShuttingDown && tunnels.isEmpty { finishShutdown() }
        if !isAccepting && tunnels.isEmpty { finished() }
    }

    /// Stops accepting (a route removed from the config); open tunnels run on
    /// and `onFinished` runs after the last one.
    public func stopAccepting() {
        guard isAccepting else { return }
        isAccepting = false
        listener?.close()
        listener = nil
        if tunnels.isEmpty { finished() }
    }

    private func finished() {
        probe.cancel()
        connector.shutdown()
        let done = onFinished
        onFinished = nil
        done?()
    }

    /// Closes every open tunnel now, saying why (a recheck found the route no longer admitted).
    public func closeAll(reason: String) {
        for tunnel in Array(tunnels.values) { tunnel.close(.failed(.revoked(reason))) }
    }

    /// Asks the gateway whether our token is still admitted for the route: a
    /// CONNECT that hangs up as soon as the answer is in (GatewayProbe).
    public func probeGateway(completion: @escaping (Int?) -> Void) {
        probe.start(connector: connector, destination: options.route.destination, tokens: tokens, logger: logger,
                    completion: completion)
    }

    /// Stops accepting now; relaying tunnels get `drainMilliseconds` to finish
    /// on their own, then are closed. Tunnels that have not opened yet (waiting
    /// for a sign-in, dialling, awaiting the gateway's answer) carry no data
    /// that could finish, so they close at once rather than hold the exit up.
    /// `onDrained` runs when none is left.
    public func shutdown(drainMilliseconds: UInt64) {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        isAccepting = false
        probe.cancel()
        listener?.close()
        listener = nil
        for tunnel in tunnels.values.sorted(by: { $0.id < $1.id }) where tunnel.state != .relaying {
            tunnel.close(.failed(.shutdown(drained: false)))
        }
        guard !tunnels.isEmpty else { return finishShutdown() }
        logger.info("stopped accepting; waiting up to \(Double(drainMilliseconds) / 1000)s for \(tunnels.count) open tunnel(s)")
        let timer = UVTimer(loop: loop)
        drainTimer = timer
        timer.start(milliseconds: drainMilliseconds) { [weak self] in
            guard let self else { return }
            self.logger.info("drain timeout: closing \(self.tunnels.count) tunnel(s)")
            for tunnel in Array(self.tunnels.values) { tunnel.close(.failed(.shutdown(drained: true))) }
        }
    }

    /// A second SIGINT/SIGTERM during the drain: every tunnel closes now.
    public func abortDrain() {
        guard isShuttingDown else { return }
        for tunnel in tunnels.values.sorted(by: { $0.id < $1.id }) {
            tunnel.close(.failed(.shutdownCutShort))
        }
    }

    private func finishShutdown() {
        drainTimer?.close()
        drainTimer = nil
        connector.shutdown()
        let done = onDrained
        onDrained = nil
        done?()
    }
}
