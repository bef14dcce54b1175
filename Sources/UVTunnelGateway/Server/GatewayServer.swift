import Logging
import UVTunnel

/// The server side of the SPEC on the same engine: accepts TLS (or plain)
/// connections, reads one CONNECT request, checks the token and the
/// destination, dials the target and relays.
public final class GatewayServer {
    private let loop: EventLoop
    private var options: GatewayOptions
    private let logger: Logger
    private var listener: TCPListener?
    private var connections: [Int: GatewayConnection] = [:]
    /// Connections whose ALPN chose h2, each carrying many CONNECT streams.
    private var sessions: [Int: GatewayH2Session] = [:]
    /// HTTP/2 connections accepted so far (tests count them).
    public private(set) var http2ConnectionsAccepted = 0
    private var nextID = 1
    /// CONNECT requests seen, by the status answered (tests count them).
    public private(set) var answers: [Int: Int] = [:]

    public init(loop: EventLoop, options: GatewayOptions, logger: Logger) {
        self.loop = loop
        self.options = options
        self.logger = logger
    }

    @discardableResult
    public func listen(on address: SocketAddress) throws(UVError) -> SocketAddress {
        let listener = try TCPListener(loop: loop, address: address, backlog: TCPListener.maximumBacklog)
        listener.onAcceptError = { [weak self] error in self?.logger.warning("accept failed: \(error.reason)") }
        listener.setOptionsForAccepted()  // GatewayConnection.start adds only the spread
        listener.start { [weak self] client in
            guard let self else { return client.close() }
            let id = self.nextID
            self.nextID += 1
            let connection = GatewayConnection(id: id, loop: self.loop, client: client, options: self.options,
                                               logger: self.logger, onHTTP2: { [weak self] connection, tls in
                self?.serveHTTP2(id: connection.id, tls)
            }) { [weak self] connection, status in
                self?.connections[connection.id] = nil
                if let status { self?.answers[status, default: 0] += 1 }
            }
            self.connections[id] = connection
            connection.start()
        }
        self.listener = listener
        return listener.address
    }

    private func serveHTTP2(id: Int, _ tls: TLSStream) {
        http2ConnectionsAccepted += 1
        let session = GatewayH2Session(id: id, transport: tls, loop: loop, options: options, logger: logger) { [weak self] session in
            self?.sessions[session.id] = nil
        }
        session.onAnswered = { [weak self] status in self?.answers[status, default: 0] += 1 }
        sessions[id] = session
        session.start()
    }

    public var openConnections: Int { connections.count + sessions.count }

    /// A policy change (SIGHUP): new CONNECTs are judged by it; tunnels already
    /// open keep running, as with Pomerium (authorization happens at CONNECT).
    public func setDestinations(_ policy: DestinationPolicy) {
        options.destinations = policy
        for session in sessions.values { session.options.destinations = policy }
    }

    /// Stops accepting and closes every connection.
    public func close() {
        listener?.close()
        listener = nil
        for connection in connections.values { connection.close("gateway shutting down") }
        for session in sessions.values { session.close("gateway shutting down") }
    }
}
