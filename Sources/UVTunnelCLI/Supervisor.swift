import Foundation
import Logging
import UVTunnel

/// Wires the loop's long-lived parts together: the route set, where its
/// listeners come from, one sign-in per gateway (shared by every entry that
/// uses it) and the sign-in thread, metrics, and the shutdown sequence.
final class Supervisor {
    let loop: EventLoop
    private let logger: Logger
    private let listeners: RouteListeners
    private var routes: RouteSet!
    private var stopping: ShutdownSequence!
    private var coordinators: [String: SignInCoordinator] = [:]
    /// `--multiplex`: one set of HTTP/2 connections per gateway, whichever routes use it.
    private let http2Connectors = HTTP2ConnectorRegistry()
    private var worker: SignInWorker?
    private let metrics = TunnelMetrics()
    private var metricsServer: MetricsServer?
    var exitCode: Int32 = 0
    /// Signals this process handles itself (exec mode leaves SIGINT to the child).
    var onSignal: ((Int32) -> Void)? {
        get { stopping.onSignal }
        set { stopping.onSignal = newValue }
    }

    init(loop: EventLoop, source: EntrySource, drainSeconds: Double, logger: Logger) {
        self.loop = loop
        self.logger = logger
        listeners = RouteListeners(logger: logger)
        routes = RouteSet(loop: loop, logger: logger, listeners: listeners) { [unowned self] prepared in
            let server = TunnelServer(loop: self.loop, options: prepared.options, tokens: try self.tokenSource(prepared),
                                      connector: prepared.connector(loop: self.loop, registry: self.http2Connectors, logger: self.logger),
                                      logger: self.logger)
            server.onTunnelClosed = { [metrics] tunnel, outcome in metrics.tunnelClosed(tunnel, outcome) }
            return server
        } makeUDPServer: { [unowned self] prepared in
            // Sign-in is the same coordinator as the tcp entries' of the same gateway; with
            // --multiplex so are the HTTP/2 connections (each session a connect-udp stream
            // when the gateway takes extended CONNECT, else HTTP/1.1: the connector says which).
            let shared = prepared.connector(loop: self.loop, registry: self.http2Connectors, logger: self.logger)
            return UDPTunnelServer(loop: self.loop, options: prepared.options, tokens: try self.tokenSource(prepared),
                                   settings: prepared.udpSettings, connector: shared as? UDPGatewayConnector, logger: self.logger)
        }
        stopping = ShutdownSequence(loop: loop, drainSeconds: drainSeconds, logger: logger) { [unowned self] in self.allServers }
        if case .file(let path) = source {
            stopping.onReload = { [unowned self] in self.routes.reload(path) }
        }
        stopping.onStopping = { [unowned self] in
            self.routes.stopRechecks()
            self.metricsServer?.close()
            self.routes.closeUDP()
        }
        stopping.onStopped = { [unowned self] in
            self.coordinators.values.forEach { $0.close() }
            self.worker?.stop()
            self.worker = nil
        }
        metrics.openTunnels = { [unowned self] in self.allServers.reduce(0) { $0 + $1.openTunnelCount } }
        metrics.waitingForSignIn = { [unowned self] in self.allServers.reduce(0) { $0 + $1.waitingTunnelCount } }
        metrics.udpServers = { [unowned self] in self.routes.udpServers }
        metrics.sharedConnections = { [unowned self] in
            self.allServers.flatMap(\.sharedConnections) + self.routes.udpServers.flatMap(\.sharedConnections)
        }
        metrics.signIns = { [unowned self] in self.coordinators.values.reduce(0) { $0 + $1.signInsStarted } }
        metrics.liveBytes = { [unowned self] in self.allServers.reduce((Int64(0), Int64(0))) { sum, server in
            let live = server.liveBytes
            return (sum.0 + live.up, sum.1 + live.down)
        } }
    }

    private var allServers: [TunnelServer] { routes.allServers }

    /// The whole life of the CLI: prepare, serve, stop; returns the exit code.
    static func run(source: EntrySource, flags: TunnelFlags, logger: Logger,
                    started: ((Supervisor, [SocketAddress]) throws -> Void)? = nil) throws -> Int32 {
        // A write to a socket the peer closed must be an error, not a signal.
        signal(SIGPIPE, SIG_IGN)
        InheritedDescriptors.markCloseOnExec()
        let descriptors = DescriptorLimit.raiseSoftToHard()
        logger.debug("descriptor limit: \(descriptors)")
        let (prepared, config) = try source.prepare(logger: logger)
        let reclaim = try MemoryReclaimer.Settings.parse(ProcessInfo.processInfo.environment["UVTUNNEL_RECLAIM"])
        let loop = try EventLoop()
        // One line per 10 s at most: a burst at the limit repeats it per socket.
        loop.descriptorTable.onFull = { limit in
            logger.warning("the descriptor table is full (limit \(limit), ulimit -n): too many open files for new tunnels; connections beyond it are closed at once until tunnels end; raise the limit")
        }
        let reclaimer = MemoryReclaimer(loop: loop, settings: reclaim, logger: logger)
        let supervisor = Supervisor(loop: loop, source: source, drainSeconds: config?.drainTimeout ?? flags.drainTimeout, logger: logger)
        try supervisor.stopping.startSignals()
        if let metricsAddress = flags.metricsAddress ?? config?.metricsAddress {
            try supervisor.startMetrics(metricsAddress)
        }
        if let only = prepared.first, only.listen == nil {
            try supervisor.serveStdio(only)
        } else {
            let bound = try supervisor.routes.apply(prepared, failOnError: true)
            supervisor.listeners.closeUnused()
            try started?(supervisor, bound)
        }
        loop.run()
        reclaimer.close()
        loop.run()  // the reclaimer's close callback
        loop.close()
        return supervisor.exitCode
    }

    /// Stops accepting everywhere and drains (exec mode: with no drain when its client exits).
    func shutdown(drainMilliseconds: UInt64? = nil) {
        stopping.shutdown(drainMilliseconds: drainMilliseconds)
    }

    private func tokenSource(_ prepared: PreparedEntry) throws -> TokenSource {
        switch prepared.tokens {
        case .fixed(let token):
            return FixedTokenSource(token: token)
        case .signIn(let settings, let cached, let authTimeout):
            if let existing = coordinators[settings.cacheKey] { return existing }
            let worker = try signInWorker()
            let coordinator = SignInCoordinator(loop: loop, settings: settings, worker: worker, cachedToken: cached,
                                                authTimeoutMilliseconds: UInt64(authTimeout * 1000), logger: logger)
            coordinators[settings.cacheKey] = coordinator
            return coordinator
        }
    }

    private func signInWorker() throws -> SignInWorker {
        if let worker { return worker }
        let made = try SignInWorker(loop: loop, logger: logger) { [weak self] event in
            self?.coordinators.values.forEach { $0.handle(event) }
        }
        worker = made
        return made
    }

    /// `--listen -`: one tunnel over stdin/stdout; the process ends with it.
    private func serveStdio(_ prepared: PreparedEntry) throws {
        let server = TunnelServer(loop: loop, options: prepared.options, tokens: try tokenSource(prepared),
                                  connector: prepared.connector(loop: loop, registry: http2Connectors, logger: logger), logger: logger)
        let local: StdioStream
        do { local = try StdioStream(loop: loop) } catch { throw RuntimeError("--listen -: \(error)") }
        server.onTunnelClosed = { [weak self] _, outcome in
            if outcome != .completed { self?.exitCode = 1 }
            self?.shutdown()
        }
        routes.add("-", prepared, server: server)
        server.open(local: local)
    }

    private func startMetrics(_ text: String) throws {
        var address: SocketAddress
        do { address = try SocketAddress.parseListen(text) } catch { throw UsageError("--metrics-addr: \(error.message)") }
        // Worker i of --workers serves its own numbers on PORT+i (a scrape target each).
        if let index = listeners.workerIndex, address.port != 0 {
            let port = Int(address.port) + index
            guard port <= 65535 else { throw UsageError("--metrics-addr: port \(address.port) + worker \(index) is over 65535; pick a lower port") }
            address = address.withPort(UInt16(port))
        }
        let server = MetricsServer(loop: loop, metrics: metrics)
        do {
            let bound = try server.listen(on: address)
            ConsoleLine.write("uvtunnel: metrics on http://\(bound)/metrics", event: "metrics")
        } catch {
            throw RuntimeError("--metrics-addr: cannot listen on \(address): \(error.reason)")
        }
        metricsServer = server
    }
}
