/// The seam where a tunnel reaches its destination: "a byte stream to
/// DESTINATION, with this token". A `Tunnel` knows tokens, sign-in and relay
/// policy; how the stream is made (one TLS connection and an HTTP/1.1 CONNECT
/// per tunnel, or a stream on a shared connection) is the connector's.
public protocol GatewayConnector: AnyObject {
    /// How log lines name where tunnels go: "https://gw:443".
    var gatewayName: String { get }

    /// Starts opening a stream to `destination` ("host:port"). `completion`
    /// runs once, from the loop, never before `open` returns, unless the
    /// attempt is cancelled first. A success is a stream whose first reads
    /// are the gateway's first tunnel bytes; a failure says where and why.
    /// The connector bounds the attempt by its connect timeout.
    func open(destination: String, token: String?,
              completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt

    /// The server stopped: close what the connector keeps between tunnels
    /// (shared connections), so the loop can end.
    func shutdown()

    /// The shared connections open now (`--multiplex`), for the metrics.
    var sharedConnections: [SharedConnectionInfo] { get }

    /// Whether its attempts can send a tunnel's first bytes behind the
    /// request, before the answer (`ConnectAttempt.carryEarly`), so a tunnel
    /// reads its local client's first bytes while it is still being set up.
    var carriesEarlyData: Bool { get }
}

extension GatewayConnector {
    public func shutdown() {}
    public var sharedConnections: [SharedConnectionInfo] { [] }
    public var carriesEarlyData: Bool { false }
}

/// One shared gateway connection as the metrics show it.
public struct SharedConnectionInfo: Equatable, Sendable {
    /// "https://gw:443", as `GatewayConnector.gatewayName`.
    public var gateway: String
    /// "h2-3": the name a tunnel's log lines give its connection.
    public var name: String
    /// Tunnels (streams) on it now.
    public var streams: Int

    public init(gateway: String, name: String, streams: Int) {
        self.gateway = gateway
        self.name = name
        self.streams = streams
    }
}

/// One `open` under way.
public protocol ConnectAttempt: AnyObject {
    /// Where it is now (a timeout names it; tests watch it).
    var stage: ConnectStage { get }
    /// The owner went away: close what was made, no callback after this.
    func cancel()

    /// The local client's first bytes, read before the answer, to go out
    /// right behind the request (on HTTP/2, DATA after the CONNECT's
    /// HEADERS: the gateway hands them to the target as soon as it is
    /// connected, a round trip sooner). The attempt writes a copy; the
    /// tunnel keeps the bytes until the relay starts, so an answer that
    /// refuses (a sign-in, then a retry) or an attempt that cannot carry
    /// them loses nothing.
    func carryEarly(_ bytes: [UInt8])

    /// On success: whether the stream handed over already carried the
    /// bytes given to `carryEarly` (false: the tunnel sends them first).
    var carriedEarly: Bool { get }
}

extension ConnectAttempt {
    public func carryEarly(_ bytes: [UInt8]) {}
    public var carriedEarly: Bool { false }
}

/// The stages an attempt goes through.
public enum ConnectStage: Equatable, Sendable {
    case resolving, connecting, proxyConnect, handshaking, awaitingAnswer, finished

    /// The stage of an attempt whose gateway dialer is at `dialing`
    /// (`finished`: the dialer is done, what follows is the attempt's own).
    init(dialing: GatewayDialer.Stage) {
        switch dialing {
        case .idle, .resolving: self = .resolving
        case .connecting: self = .connecting
        case .proxyConnect: self = .proxyConnect
        case .handshaking: self = .handshaking
        case .finished: self = .finished
        }
    }
}

/// A gateway stream that is one of many on a shared connection (an HTTP/2
/// stream): a tunnel's log lines name the connection and the stream.
///
/// `writeNow` true means the bytes are taken (queued on the stream, within
/// its bound), not that they reached a socket: they leave as the peer's
/// flow-control window allows, and `close` before then drops them (the
/// stream is reset), as closing a socket drops its unsent buffer.
public protocol SharedConnectionStream: ByteStream {
    /// E.g. ["connection": "h2-3", "stream": "5"].
    var logMetadata: [String: String] { get }
}

/// The way to a UDP destination: a capsule stream (RFC 9297) carrying its
/// datagrams, opened with connect-udp (RFC 9298). Apart from the seam above
/// so the tcp connectors need not know about UDP.
public protocol UDPGatewayConnector: AnyObject {
    var gatewayName: String { get }

    /// As `GatewayConnector.open`; a success is the capsule stream after the
    /// gateway's 101 (HTTP/1.1) or 200 (an HTTP/2 extended CONNECT stream),
    /// any other status is `.answered(status:)`.
    func openUDP(destination: String, token: String?,
                 completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt
}
