import Glibc
import Logging
import UVTunnel

/// SIGINT, SIGTERM and SIGHUP, and the orderly stop they start: stop
/// accepting everywhere, let relaying tunnels drain (tunnels not yet open
/// close at once), end the drain at a second SIGINT/SIGTERM, and once no
/// tunnel is left close what outlived them so the loop can end.
final class ShutdownSequence {
    private let loop: EventLoop
    private let logger: Logger
    private let drainMilliseconds: UInt64
    private let servers: () -> [TunnelServer]
    private var signals: [SignalWatcher] = []
    private var pendingServers = 0
    private(set) var isShuttingDown = false
    /// Signals this process handles itself (exec mode leaves SIGINT to the child).
    var onSignal: ((Int32) -> Void)?
    /// SIGHUP with `--config`: re-read it instead of stopping.
    var onReload: (() -> Void)?
    /// At the start of the stop, once nothing accepts any more (rechecks, metrics).
    var onStopping: (() -> Void)?
    /// When the last tunnel has closed (sign-ins, the sign-in thread).
    var onStopped: (() -> Void)?

    init(loop: EventLoop, drainSeconds: Double, logger: Logger, servers: @escaping () -> [TunnelServer]) {
        self.loop = loop
        drainMilliseconds = UInt64(drainSeconds * 1000)
        self.logger = logger
        self.servers = servers
    }

    func startSignals() throws {
        for signum in [SIGINT, SIGTERM, SIGHUP] {
            signals.append(try SignalWatcher(loop: loop, signal: signum) { [weak self] signum in self?.signalled(signum) })
        }
    }

    private func signalled(_ signum: Int32) {
        if let onSignal { return onSignal(signum) }
        if signum == SIGHUP, let onReload { return onReload() }
        if isShuttingDown {
            // The user asked twice: stop waiting for the drain.
            let servers = servers()
            let open = servers.reduce(0) { $0 + $1.openTunnelCount }
            logger.info("received signal \(signum) again: closing \(open) tunnel(s) now")
            return servers.forEach { $0.abortDrain() }
        }
        logger.info("received signal \(signum): stopping")
        shutdown()
    }

    /// Stops accepting everywhere; open tunnels get the drain time, then the
    /// loop's remaining handles close and `run` returns.
    func shutdown(drainMilliseconds override: UInt64? = nil) {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        let servers = servers()
        pendingServers = servers.count
        onStopping?()
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
        let stopped = onStopped
        onStopped = nil
        stopped?()
    }
}
