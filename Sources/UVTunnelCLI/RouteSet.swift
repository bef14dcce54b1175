import Logging
import UVTunnel

/// The routes being served, keyed by their `--listen` text: applying a new
/// set (start what is new, keep what is unchanged, stop accepting on what is
/// gone while its open tunnels run on), the SIGHUP reload of `--config`, and
/// each route's `--recheck-interval` probe. UDP entries (`protocol = "udp"`)
/// run beside the TCP ones, keyed apart, so both may use one port number.
final class RouteSet {
    /// A route being served: its entry, its server (TCP or UDP) and its recheck timer.
    struct Running<Server: RecheckedServer> {
        let prepared: PreparedEntry
        let server: Server
        let recheck: UVTimer?
    }

    private let loop: EventLoop
    private let logger: Logger
    private let listeners: RouteListeners
    /// A server for an entry, with its token source (the supervisor's sign-ins).
    private let makeServer: (PreparedEntry) throws -> TunnelServer
    /// A UDP listener for a `protocol = "udp"` entry.
    private let makeUDPServer: (PreparedEntry) throws -> UDPTunnelServer
    private var running: [String: Running<TunnelServer>] = [:]
    private var udp: [String: Running<UDPTunnelServer>] = [:]
    private var retired: [ObjectIdentifier: TunnelServer] = [:]

    init(loop: EventLoop, logger: Logger, listeners: RouteListeners, makeServer: @escaping (PreparedEntry) throws -> TunnelServer,
         makeUDPServer: @escaping (PreparedEntry) throws -> UDPTunnelServer) {
        self.loop = loop
        self.logger = logger
        self.listeners = listeners
        self.makeServer = makeServer
        self.makeUDPServer = makeUDPServer
    }

    /// The UDP listeners being served.
    var udpServers: [UDPTunnelServer] { udp.values.map(\.server) }

    /// Closes every UDP listener and its sessions (at shutdown: a datagram session has nothing to drain).
    func closeUDP() {
        udp.values.forEach { $0.close() }
        udp = [:]
    }

    /// Every server with tunnels that may still be open, retired ones included.
    var allServers: [TunnelServer] { running.values.map(\.server) + Array(retired.values) }

    /// A route that does not listen (stdio mode), served as is.
    func add(_ key: String, _ prepared: PreparedEntry, server: TunnelServer) {
        running[key] = Running(prepared: prepared, server: server, recheck: nil)
    }

    /// Stops the rechecks (at shutdown: no new probes while draining).
    func stopRechecks() {
        for item in running.values { item.recheck?.close() }
        for item in udp.values { item.recheck?.close() }
    }

    /// Starts what is new, keeps what is unchanged, stops accepting on what is
    /// gone (its open tunnels run on). Returns the addresses now listening.
    @discardableResult
    func apply(_ all: [PreparedEntry], failOnError: Bool) throws -> [SocketAddress] {
        let entries = all.filter { $0.entry.protocol == .tcp }
        var next: [String: Running<TunnelServer>] = [:]
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
        return bound + (try applyUDP(all.filter { $0.entry.protocol == .udp }, failOnError: failOnError))
    }

    /// UDP entries: new ones bind, unchanged ones stay; a changed or removed
    /// one closes with its sessions (datagrams have no stream to drain; a
    /// client's next datagram opens a session on the new listener).
    private func applyUDP(_ entries: [PreparedEntry], failOnError: Bool) throws -> [SocketAddress] {
        var next: [String: Running<UDPTunnelServer>] = [:]
        defer { udp = next }
        var bound: [SocketAddress] = []
        let wanted = Set(entries.map(\.entry.listen))
        for (key, old) in udp where !wanted.contains(key) {
            logger.info("UDP route \(old.prepared.route.destination) on \(key) removed: its \(old.server.openSessionCount) session(s) end")
            old.close()
        }
        for prepared in entries {
            let key = prepared.entry.listen
            if let old = udp[key] {
                if Self.sameTunnel(old.prepared.entry, prepared.entry) {
                    next[key] = old
                    bound.append(contentsOf: old.server.listenAddress.map { [$0] } ?? [])
                    continue
                }
                old.close()
            }
            do {
                let server = try makeUDPServer(prepared)
                guard let address = prepared.listen else { throw RuntimeError("internal: a UDP entry without an address") }
                let at: SocketAddress
                do { at = try server.listen(on: address) } catch {
                    server.close()
                    throw RuntimeError("cannot listen on UDP \(address): \(error.reason)")
                }
                next[key] = Running(prepared: prepared, server: server, recheck: startRecheck(prepared, server))
                bound.append(at)
                RouteListeners.announce(prepared, at, logger: logger)
            } catch {
                if failOnError { throw error }
                logger.error("\(error)")
            }
        }
        return bound
    }

    /// SIGHUP with --config: the new set, or a clear error and the old set.
    func reload(_ path: String) {
        do {
            let config = try EntrySource.readConfig(path)
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

    private static func sameTunnel(_ a: TunnelEntry, _ b: TunnelEntry) -> Bool {
        var a = a, b = b
        a.line = nil
        b.line = nil
        return a == b
    }

    private func start(_ prepared: PreparedEntry) throws -> Running<TunnelServer> {
        let server = try makeServer(prepared)
        _ = try listeners.listen(server, for: prepared)
        return Running(prepared: prepared, server: server, recheck: startRecheck(prepared, server))
    }

    /// `--recheck-interval`: a probe per interval (a CONNECT, or a connect-udp
    /// request for a UDP entry) while tunnels are open; 3xx/401/403 means the
    /// gateway no longer admits this token for the route.
    private func startRecheck(_ prepared: PreparedEntry, _ server: RecheckedServer) -> UVTimer? {
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

    private func retire(_ old: Running<TunnelServer>) {
        old.recheck?.close()
        let id = ObjectIdentifier(old.server)
        retired[id] = old.server
        old.server.onFinished = { [weak self] in self?.retired[id] = nil }
        old.server.stopAccepting()
    }
}

extension RouteSet.Running where Server == UDPTunnelServer {
    /// Ends the UDP listener, its sessions and its recheck (datagrams have nothing to drain).
    func close() {
        recheck?.close()
        server.close()
    }
}
