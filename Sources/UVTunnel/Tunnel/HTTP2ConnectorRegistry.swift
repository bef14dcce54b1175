/// `--multiplex` connections are per gateway, not per route: routes of a
/// `--config` file that reach the same gateway the same way (TLS settings,
/// egress proxy, stream limit, early data: what `key` names) share one `HTTP2Connector`,
/// so their tunnels share its connections. Each route holds a lease; the
/// shared connector shuts down when the last lease is given back (its route
/// stopped, or a reload replaced it).
public final class HTTP2ConnectorRegistry {
    private var shared: [String: (connector: HTTP2Connector, leases: Int)] = [:]

    public init() {}

    /// The connector for one route: `make` builds the shared one for `key`
    /// the first time; `timeoutMilliseconds` is this route's --connect-timeout.
    public func lease(key: String, timeoutMilliseconds: UInt64, make: () -> HTTP2Connector) -> GatewayConnector {
        let connector = shared[key]?.connector ?? make()
        shared[key] = (connector, (shared[key]?.leases ?? 0) + 1)
        return HTTP2ConnectorLease(connector: connector, timeoutMilliseconds: timeoutMilliseconds) { [weak self] in
            self?.release(key)
        }
    }

    /// Shared connectors in use now (tests).
    public var connectorCount: Int { shared.count }

    private func release(_ key: String) {
        guard let entry = shared[key] else { return }
        guard entry.leases <= 1 else {
            shared[key] = (entry.connector, entry.leases - 1)
            return
        }
        shared[key] = nil
        entry.connector.shutdown()
    }
}

/// One route's use of a shared `HTTP2Connector`: its own connect timeout;
/// `shutdown` gives the lease back instead of closing connections that
/// other routes still use.
final class HTTP2ConnectorLease: GatewayConnector, UDPGatewayConnector {
    private let connector: HTTP2Connector
    private let timeoutMilliseconds: UInt64
    private var release: (() -> Void)?

    init(connector: HTTP2Connector, timeoutMilliseconds: UInt64, release: @escaping () -> Void) {
        self.connector = connector
        self.timeoutMilliseconds = timeoutMilliseconds
        self.release = release
    }

    deinit { shutdown() }

    var gatewayName: String { connector.gatewayName }
    var sharedConnections: [SharedConnectionInfo] { connector.sharedConnections }
    var carriesEarlyData: Bool { connector.carriesEarlyData }

    func open(destination: String, token: String?,
              completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        connector.open(destination: destination, token: token, timeoutMilliseconds: timeoutMilliseconds, completion: completion)
    }

    func openUDP(destination: String, token: String?,
                 completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        connector.openUDP(destination: destination, token: token, timeoutMilliseconds: timeoutMilliseconds, completion: completion)
    }

    /// Idempotent: a server calls it when it stops accepting and again after its drain.
    func shutdown() {
        let done = release
        release = nil
        done?()
    }
}
