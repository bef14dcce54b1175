import Foundation
import Logging
import UVTunnel

/// Where the tunnels come from: the command line, or a config file that
/// SIGHUP re-reads.
enum EntrySource {
    case flags(TunnelEntry)
    case file(String)
}

/// Owns the loop's long-lived parts: one `TunnelServer` per entry, one
/// sign-in per gateway (shared by every entry that uses it), the sign-in
/// thread, metrics, signals, rechecks, and the orderly shutdown.
final class Supervisor {
    private struct Running {
        let prepared: PreparedEntry
        let server: TunnelServer
        let recheck: UVTimer?
    }

    let loop: EventLoop
    private let logger: Logger
    private let source: EntrySource
    private var drainMilliseconds: UInt64
    private var running: [String: Running] = [:]
    private var retired: [ObjectIdentifier: TunnelServer] = [:]
    private var coordinators: [String: SignInCoordinator] = [:]
    private var worker: SignInWorker?
    private let metrics = TunnelMetrics()
    private var metricsServer: MetricsServer?
    private var signals: [SignalWatcher] = []
    private var isShuttingDown = false
    private var pendingServers = 0
    /// Sockets systemd passed us, handed to entries in order.
    private var activatedSockets = SocketActivation.takeListeners()
    /// Set when this process is one of `--workers N`: its own sockets, by route.
    private var handoff = WorkerHandoff.take()
    var exitCode: Int32 = 0
    /// Signals this process handles itself (exec mode leaves SIGINT to the child).
    var onSignal: ((Int32) -> Void)?

    init(loop: EventLoop, source: EntrySource, drainSeconds: Double, logger: Logger) {
        self.loop = loop
        self.source = source
        drainMilliseconds = UInt64(drainSeconds * 1000)
        self.logger = logger
        metrics.openTunnels = { [unowned self] in self.allServers.reduce(0) { $0 + $1.openTunnelCount } }
        metrics.waitingForSignIn = { [unowned self] in self.allServers.reduce(0) { $0 + $1.waitingTunnelCount } }
        metrics.signIns = { [unowned self] in self.coordinators.values.reduce(0) { $0 + $1.signInsStarted } }
        metrics.liveBytes = { [unowned self] in self.allServers.reduce((Int64(0), Int64(0))) { sum, server in
            let live = server.liveBytes
            return (sum.0 + live.up, sum.1 + live.down)
        } }
    }

    private var allServers: [TunnelServer] { running.values.map(\.server) + Array(retired.values) }

    /// The whole life of the CLI: prepare, serve, stop; returns the exit code.
    static func run(source: EntrySource, flags: TunnelFlags, logger: Logger,
                    started: ((Supervisor, [SocketAddress]) throws -> Void)? = nil) throws -> Int32 {
        // A write to a socket the peer closed must be an error, not a signal.
        signal(SIGPIPE, SIG_IGN)
        let descriptors = DescriptorLimit.raiseSoftToHard()
        logger.debug("descriptor limit: \(descriptors)")
        let (prepared, config) = try prepare(source, logger: logger)
        let loop = try EventLoop()
        let supervisor = Supervisor(loop: loop, source: source, drainSeconds: config?.drainTimeout ?? flags.drainTimeout, logger: logger)
        try supervisor.startSignals()
        if let metricsAddress = flags.metricsAddress ?? config?.metricsAddress {
            try supervisor.startMetrics(metricsAddress)
        }
        if let only = prepared.first, only.listen == nil {
            try supervisor.serveStdio(only)
        } else {
            let bound = try supervisor.apply(prepared, failOnError: true)
            supervisor.handoff?.closeUnused()
            try started?(supervisor, bound)
        }
        loop.run()
        loop.close()
        return supervisor.exitCode
    }

    /// Reads and checks every entry (files, certificates, addresses) before anything listens.
    static func prepare(_ source: EntrySource, logger: Logger) throws -> ([PreparedEntry], TunnelConfigFile?) {
        let (entries, config) = try load(source)
        let prepared = try entries.map { entry throws -> PreparedEntry in
            do throws(PreparedEntry.Failure) { return try PreparedEntry(entry, logger: logger) } catch {
                let message = entry.line.map { "config line \($0): \(error.description)" } ?? error.description
                if error.usage { throw UsageError(message) }
                throw RuntimeError(message)
            }
        }
        return (prepared, config)
    }

    private static func load(_ source: EntrySource) throws -> ([TunnelEntry], TunnelConfigFile?) {
        switch source {
        case .flags(let entry):
            return ([entry], nil)
        case .file(let path):
            let config = try readConfig(path)
            return (config.tunnels, config)
        }
    }

    private static func readConfig(_ path: String) throws -> TunnelConfigFile {
        guard let data = FileManager.default.contents(atPath: path), data.count <= TOMLLite.maxBytes else {
            throw UsageError("--config \(path): cannot read it (missing, unreadable or over 1 MiB)")
        }
        do {
            return try TunnelConfigFile.parse(String(decoding: data, as: UTF8.self))
        } catch {
            throw UsageError("--config \(path): \(error)")
        }
    }

    // MARK: Serving

    /// Starts what is new, keeps what is unchanged, stops accepting on what is
    /// gone (its open tunnels run on). Returns the addresses now listening.
    @discardableResult
    private func apply(_ entries: [PreparedEntry], failOnError: Bool) throws -> [SocketAddress] {
        var next: [String: Running] = [:]
        var bound: [SocketAddress] = []
        let wanted = Set(entries.map(\.entry.listen))
        for (key, old) in running where !wanted.contains(key) {
            logger.info("route \(old.prepared.route.destination) on \(key) removed: stopped accepting")
            retire(old)
        }
        for prepared in entries {
            let key = prepared.entry.listen
            if let old = running[key] {
                if Self.sameTunnel(old.prepared.entry, prepared.entry) {
                    next[key] = old
                    bound.append(contentsOf: old.server.listenAddress.map { [$0] } ?? [])
                    continue
                }
                retire(old)
            }
            do {
                let started = try start(prepared)
                next[key] = started
                if let address = started.server.listenAddress { bound.append(address) }
            } catch {
                if failOnError { throw error }
                logger.error("\(error)")
            }
        }
        running = next
        return bound
    }

    private static func sameTunnel(_ a: TunnelEntry, _ b: TunnelEntry) -> Bool {
        var a = a, b = b
        a.line = nil
        b.line = nil
        return a == b
    }

    private func start(_ prepared: PreparedEntry) throws -> Running {
        let server = TunnelServer(loop: loop, options: prepared.options, tokens: try tokenSource(prepared),
                                  connector: prepared.connector(loop: loop, logger: logger), logger: logger)
        server.onTunnelClosed = { [metrics] tunnel, outcome in metrics.tunnelClosed(tunnel, outcome) }
        guard let address = prepared.listen else { throw RuntimeError("internal: no listen address") }
        let bound: SocketAddress
        var addedByReload = false
        if let handoff {
            do {
                let given = self.handoff?.take(prepared.entry.listen)
                addedByReload = given == nil
                switch given {
                case .socket(let fd)?: bound = try server.listen(adopting: fd)
                case .bind(let given)?: bound = try server.listen(on: given, reusePort: true)
                // A route a reload added: every worker binds it, sharing the port.
                case nil: bound = try server.listen(on: address, reusePort: true)
                }
            } catch {
                throw RuntimeError("worker \(handoff.index): cannot listen for --listen \(prepared.entry.listen): \(error.reason)")
            }
        } else if !activatedSockets.isEmpty {
            let fd = activatedSockets.removeFirst()
            do { bound = try server.listen(adopting: fd) } catch {
                throw RuntimeError("cannot use the socket passed by systemd (fd \(fd)): \(error.reason)")
            }
            logger.info("socket activation: serving fd \(fd) instead of --listen \(prepared.entry.listen)")
        } else {
            do { bound = try server.listen(on: address) } catch {
                throw RuntimeError("cannot listen on \(address): \(error.reason)")
            }
        }
        // A --workers parent announced the sockets it passed; only routes a reload added are new here.
        if let handoff, !addedByReload {
            logger.debug("worker \(handoff.index): serving \(bound)")
        } else {
            Self.announce(prepared, bound, logger: logger)
        }
        return Running(prepared: prepared, server: server, recheck: startRecheck(prepared, server))
    }

    /// The one line tests and users read the port from, and the warning for a listener others can reach.
    static func announce(_ prepared: PreparedEntry, _ bound: SocketAddress, workers: Int = 1, logger: Logger) {
        if !bound.isLoopback && prepared.options.allowFrom.isEmpty {
            logger.warning("listening on \(bound), which is not loopback: anyone who can reach it rides on your sign-in; use --listen 127.0.0.1:\(bound.port) unless that is what you want, or admit only some clients with --allow-from CIDR")
        }
        let route = prepared.route
        let how = workers > 1 ? " (\(workers) workers)" : ""
        FileHandle.standardError.write(Data("uvtunnel: listening on \(bound), tunnelling to \(route.destination) via \(route.useTLS ? "https" : "http")://\(route.gatewayAuthority)\(how)\n".utf8))
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

    /// `--recheck-interval`: a CONNECT probe per interval; 3xx/401/403 means
    /// the gateway no longer admits this token for the route.
    private func startRecheck(_ prepared: PreparedEntry, _ server: TunnelServer) -> UVTimer? {
        guard let interval = prepared.entry.recheckInterval else { return nil }
        let timer = UVTimer(loop: loop)
        let milliseconds = UInt64(interval * 1000)
        timer.start(milliseconds: milliseconds, repeat: milliseconds) { [logger] in
            guard server.openTunnelCount > 0 else { return }
            server.probeGateway { status in
                guard let status, (300..<400).contains(status) || status == 401 || status == 403 else { return }
                let count = server.openTunnelCount
                let why = "recheck: the gateway answered \(ConnectOutcome.logMessage(status: status)) for \(server.route.destination)"
                logger.warning("\(why); closing \(count) tunnel(s)")
                server.closeAll(reason: why)
            }
        }
        return timer
    }

    private func retire(_ old: Running) {
        old.recheck?.close()
        let id = ObjectIdentifier(old.server)
        retired[id] = old.server
        old.server.onFinished = { [weak self] in self?.retired[id] = nil }
        old.server.stopAccepting()
    }

    /// `--listen -`: one tunnel over stdin/stdout; the process ends with it.
    private func serveStdio(_ prepared: PreparedEntry) throws {
        let server = TunnelServer(loop: loop, options: prepared.options, tokens: try tokenSource(prepared),
                                  connector: prepared.connector(loop: loop, logger: logger), logger: logger)
        let local: StdioStream
        do { local = try StdioStream(loop: loop) } catch { throw RuntimeError("--listen -: \(error)") }
        server.onTunnelClosed = { [weak self] _, outcome in
            if outcome != .completed { self?.exitCode = 1 }
            self?.shutdown()
        }
        running["-"] = Running(prepared: prepared, server: server, recheck: nil)
        server.open(local: local)
    }

    private func startMetrics(_ text: String) throws {
        var address: SocketAddress
        do { address = try SocketAddress.parseListen(text) } catch { throw UsageError("--metrics-addr: \(error.message)") }
        // Worker i of --workers serves its own numbers on PORT+i (a scrape target each).
        if let handoff, address.port != 0 {
            let port = Int(address.port) + handoff.index
            guard port <= 65535 else { throw UsageError("--metrics-addr: port \(address.port) + worker \(handoff.index) is over 65535; pick a lower port") }
            address = address.withPort(UInt16(port))
        }
        let server = MetricsServer(loop: loop, metrics: metrics)
        do {
            let bound = try server.listen(on: address)
            FileHandle.standardError.write(Data("uvtunnel: metrics on http://\(bound)/metrics\n".utf8))
        } catch {
            throw RuntimeError("--metrics-addr: cannot listen on \(address): \(error.reason)")
        }
        metricsServer = server
    }

    // MARK: Signals and shutdown

    private func startSignals() throws {
        for signum in [SIGINT, SIGTERM, SIGHUP] {
            signals.append(try SignalWatcher(loop: loop, signal: signum) { [weak self] signum in self?.signalled(signum) })
        }
    }

    private func signalled(_ signum: Int32) {
        if let onSignal { return onSignal(signum) }
        if signum == SIGHUP, case .file(let path) = source {
            return reload(path)
        }
        logger.info("received signal \(signum): stopping")
        shutdown()
    }

    /// SIGHUP with --config: the new set, or a clear error and the old set.
    private func reload(_ path: String) {
        do {
            let config = try Self.readConfig(path)
            var prepared: [PreparedEntry] = []
            for entry in config.tunnels {
                do throws(PreparedEntry.Failure) { prepared.append(try PreparedEntry(entry, logger: logger)) } catch {
                    throw UsageError("--config \(path): line \(entry.line ?? 0): \(error.description)")
                }
            }
            try apply(prepared, failOnError: false)
            logger.info("reloaded \(path): \(running.count) route(s)")
        } catch {
            logger.error("reload rejected, keeping the running routes: \(error)")
        }
    }

    /// Stops accepting everywhere; open tunnels get the drain time, then the
    /// loop's remaining handles close and `run` returns.
    func shutdown(drainMilliseconds override: UInt64? = nil) {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        let servers = allServers
        pendingServers = servers.count
        for item in running.values { item.recheck?.close() }
        metricsServer?.close()
        guard !servers.isEmpty else { return finish() }
        for server in servers {
            server.onDrained = { [weak self] in
                guard let self else { return }
                self.pendingServers -= 1
                if self.pendingServers == 0 { self.finish() }
            }
            server.shutdown(drainMilliseconds: override ?? drainMilliseconds)
        }
    }

    private func finish() {
        signals.forEach { $0.close() }
        signals = []
        coordinators.values.forEach { $0.close() }
        worker?.stop()
        worker = nil
    }
}
