import Logging

/// The HTTP/1.1 way to a destination: a gateway connection per tunnel. Dial
/// (resolve, TCP, egress proxy CONNECT when one applies, TLS), then CONNECT
/// over it; once the gateway answers 200 the connection itself is the stream.
public final class HTTP1Connector: GatewayConnector {
    private let loop: EventLoop
    private let target: DialTarget
    private let timeoutMilliseconds: UInt64
    private let logger: Logger
    public let gatewayName: String

    public init(loop: EventLoop, options: TunnelOptions, logger: Logger) {
        self.loop = loop
        (target, gatewayName) = DialTarget.gateway(of: options, tls: options.tls)
        timeoutMilliseconds = options.connectTimeoutMilliseconds
        self.logger = logger
    }

    public func open(destination: String, token: String?,
                     completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        open(destination: destination, token: token, timeoutMilliseconds: timeoutMilliseconds, completion: completion)
    }

    /// As `open`, within `timeoutMilliseconds` (an attempt that already spent
    /// part of the connect timeout elsewhere: the HTTP/2 path's ALPN fallback).
    func open(_ kind: HTTP1ConnectAttempt.Kind = .connect, destination: String, token: String?, timeoutMilliseconds: UInt64,
              completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        let attempt = HTTP1ConnectAttempt(loop: loop, target: target, kind: kind, destination: destination, token: token,
                                          logger: logger, completion: completion)
        attempt.start(timeoutMilliseconds: timeoutMilliseconds)
        return attempt
    }
}

extension HTTP1Connector: UDPGatewayConnector {
    public func openUDP(destination: String, token: String?,
                        completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        open(.connectUDP, destination: destination, token: token, timeoutMilliseconds: timeoutMilliseconds, completion: completion)
    }
}

/// One tunnel's way through `HTTP1Connector`: owns the dialer, then the
/// connection and its CONNECT exchange, and the connect timeout, until it
/// hands the stream over or fails.
final class HTTP1ConnectAttempt: ConnectAttempt {
    /// What the gateway is asked for: a CONNECT (200 opens a byte stream) or
    /// a connect-udp upgrade (101 opens a capsule stream).
    enum Kind { case connect, connectUDP }

    private let loop: EventLoop
    private let kind: Kind
    private let target: DialTarget
    private let destination: String
    private let token: String?
    private let logger: Logger
    /// The completion, the timeout, and a result that came while `start` was
    /// still running (an address libuv refuses at once) held for the next turn.
    private let outcome: AttemptCompletion
    private var dialer: GatewayDialer?
    private var gateway: ByteStream?
    private var exchange: ConnectClient?
    private(set) var stage: ConnectStage = .resolving

    init(loop: EventLoop, target: DialTarget, kind: Kind, destination: String, token: String?, logger: Logger,
         completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) {
        self.loop = loop
        self.kind = kind
        self.target = target
        self.destination = destination
        self.token = token
        self.logger = logger
        outcome = AttemptCompletion(loop: loop, completion: completion)
    }

    func start(timeoutMilliseconds: UInt64) {
        outcome.timer.start(milliseconds: timeoutMilliseconds) { [weak self] in
            guard let self else { return }
            self.finish(.failure(.timedOut(stage: self.stage, milliseconds: timeoutMilliseconds, activity: self.activity)))
        }
        let dialer = GatewayDialer(loop: loop, target: target) { [weak self] result in
            guard let self else {
                if case .success(let stream) = result { stream.close() }
                return
            }
            self.dialer = nil
            switch result {
            case .success(let stream): self.sendConnect(over: stream)
            case .failure(let failure): self.finish(.failure(.dial(failure)))
            }
        }
        // Half the deadline at most waiting for another tunnel's session ticket:
        // the rest is left for a full handshake should none come.
        dialer.ticketWaitLimitMilliseconds = timeoutMilliseconds / 2
        dialer.onStage = { [weak self] stage in
            // Once dialled, the CONNECT exchange sets the stage.
            if stage != .finished { self?.stage = ConnectStage(dialing: stage) }
        }
        self.dialer = dialer
        outcome.starting({ dialer.start() }, deliver: { [weak self] in self?.finish($0) })
    }

    /// What the attempt is doing now, for a timeout's message.
    private var activity: String {
        guard stage == .awaitingAnswer else { return dialer?.activity ?? "in stage \(stage)" }
        let request = kind == .connect ? "CONNECT" : "connect-udp"
        return "waiting for \(target.role) \(target.authority) to answer \(request) \(destination)"
    }

    private func sendConnect(over stream: ByteStream) {
        gateway = stream
        stage = .awaitingAnswer
        if let tls = stream as? TLSStream {
            logger.trace("TLS established", metadata: ["version": "\(tls.protocolVersion)", "resumed": "\(tls.resumedSession)"])
        }
        let client = ConnectClient(stream: stream, pool: loop.buffers, peer: target.role)
        exchange = client
        let credential = token.map { ConnectRequest.Credential.pomeriumToken($0) }
        let request = switch kind {
        case .connect: ConnectRequest.encode(authority: destination, userAgent: target.userAgent, credential: credential)
        case .connectUDP: ConnectRequest.encodeConnectUDP(destination: destination, userAgent: target.userAgent, credential: credential)
        }
        client.start(request: request) { [weak self] result in
            guard let self else { return }
            self.exchange = nil
            switch result {
            case .success(let answer): self.answered(answer, on: stream)
            case .failure(let failure): self.finish(.failure(.exchange(failure)))
            }
        }
    }

    private func answered(_ answer: ConnectClient.Answer, on stream: ByteStream) {
        let opens = switch kind {
        case .connect: ConnectOutcome(status: answer.head.status) == .open
        case .connectUDP: answer.head.status == 101
        }
        guard opens else {
            if let leftover = answer.leftover { loop.buffers.give(leftover) }
            return finish(.failure(.answered(status: answer.head.status)))
        }
        // The gateway's first tunnel bytes came in the same read as its 200.
        let opened = answer.leftover.map { PrefixedStream(stream, first: $0, pool: loop.buffers) } ?? stream
        gateway = nil  // the caller's now
        finish(.success(opened))
    }

    func cancel() {
        outcome.cancel { release() }
    }

    private func finish(_ result: Result<ByteStream, TunnelFailure>) {
        outcome.finish(result) {
            stage = .finished
            release()
        }
    }

    private func release() {
        dialer?.cancel()
        dialer = nil
        exchange?.cancel()
        exchange = nil
        gateway?.close()
        gateway = nil
    }
}

extension DialTarget {
    /// The route's gateway as every connector dials it (through the egress
    /// proxy that applies), with `tls` as the handshake's context, and its
    /// name for log lines.
    static func gateway(of options: TunnelOptions, tls: TLSContext?) -> (target: DialTarget, name: String) {
        let route = options.route
        let proxy = options.egressProxy.proxy(forHost: route.gatewayHost, port: route.gatewayPort, tls: options.tls != nil)
        let target = DialTarget(host: route.gatewayHost, port: route.gatewayPort, tls: tls,
                                 verifyHostName: options.verifyHostName, proxy: proxy, userAgent: options.userAgent)
        let name = "\(route.useTLS ? "https" : "http")://\(route.gatewayAuthority)"
            + (proxy.map { " through egress proxy \($0.authority)" } ?? "")
        return (target, name)
    }
}
