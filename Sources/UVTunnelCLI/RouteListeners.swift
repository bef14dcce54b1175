import Foundation
import Logging
import UVTunnel

/// Where a route's listening socket comes from: the socket a `--workers`
/// parent handed this worker, a socket systemd passed (`LISTEN_FDS`, handed
/// to routes in order), or a bind of `--listen`; and the line that announces it.
final class RouteListeners {
    private let logger: Logger
    /// Sockets systemd passed us, handed to entries in order.
    private var activatedSockets = SocketActivation.takeListeners()
    /// Set when this process is one of `--workers N`: its own sockets, by route.
    private var handoff = WorkerHandoff.take()

    init(logger: Logger) {
        self.logger = logger
    }

    /// This process's index among `--workers N`, or nil when it is not a worker.
    var workerIndex: Int? { handoff?.index }

    /// Closes the handed-over sockets no route took.
    func closeUnused() { handoff?.closeUnused() }

    /// Makes `server` listen for `prepared` and announces the address.
    func listen(_ server: TunnelServer, for prepared: PreparedEntry) throws -> SocketAddress {
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
        return bound
    }

    /// The one line tests and users read the port from, and the warning for a listener others can reach.
    static func announce(_ prepared: PreparedEntry, _ bound: SocketAddress, workers: Int = 1, logger: Logger) {
        if !bound.isLoopback && prepared.options.allowFrom.isEmpty {
            logger.warning("listening on \(bound), which is not loopback: anyone who can reach it rides on your sign-in; use --listen 127.0.0.1:\(bound.port) unless that is what you want, or admit only some clients with --allow-from CIDR")
        }
        let route = prepared.route
        let how = workers > 1 ? " (\(workers) workers)" : ""
        let kind = prepared.entry.protocol == .udp ? " (UDP)" : ""
        ConsoleLine.write("uvtunnel: listening on \(bound)\(kind), tunnelling to \(route.destination) via \(route.useTLS ? "https" : "http")://\(route.gatewayAuthority)\(how)",
                          event: "listening")
    }
}
