/// Turns "reach host:port, maybe through an egress proxy, maybe with TLS" into
/// a connected `ByteStream` on the loop. Used by every tunnel and by the
/// sign-in's login call, so both reach the gateway the same way.
///
/// Steps: resolve (the proxy's name when there is one, else the target's),
/// TCP connect trying each address in turn, TCP_NODELAY + keepalive; with a
/// proxy, `CONNECT host:port` and its answer; then TLS to the target (SNI and
/// verification against the target's name, never the proxy's).
///
/// The owner may `cancel()` at any time: after that no callback runs, every
/// handle is closed once and every pool buffer goes back. Deadlines are the
/// owner's (a tunnel's --connect-timeout, the login call's 10 s): it cancels.
public final class GatewayDialer {
    public enum Stage: Equatable, Sendable {
        case idle, resolving, connecting, proxyConnect, handshaking, finished
    }

    private let loop: EventLoop
    public let target: DialTarget
    public private(set) var stage: Stage = .idle {
        didSet { onStage?(stage) }
    }
    /// Tells the owner each new stage (a tunnel mirrors it in its state).
    public var onStage: ((Stage) -> Void)?
    private var completion: ((Result<ByteStream, DialFailure>) -> Void)?
    private var resolving: ResolveRequest?
    private var socket: UVStream?
    private var tls: TLSStream?
    private var proxyClient: ConnectClient?
    private var ticketWaiter: SessionTicketWait.Waiter?
    /// The proxy's early bytes while the TLS start waits.
    private var heldEarly: Buffer?
    /// The longest this dial's TLS start waits for another dial's session
    /// ticket (SessionTicketWait) before a full handshake; keep it well inside
    /// the owner's deadline (a tunnel gives half its connect timeout).
    public var ticketWaitLimitMilliseconds: UInt64 = 2_000

    public init(loop: EventLoop, target: DialTarget, completion: @escaping (Result<ByteStream, DialFailure>) -> Void) {
        self.loop = loop
        self.target = target
        self.completion = completion
    }

    /// Starts dialling. `completion` runs once, from the loop, unless the dial
    /// is cancelled first; it may run before `start` returns (an IP literal
    /// whose connect libuv refuses at once), so keep the dialer before starting.
    public func start() {
        guard completion != nil, stage == .idle else { return }
        stage = .resolving
        let host = target.proxy?.host ?? target.host
        let port = target.proxy?.port ?? target.port
        resolving = Resolver.resolve(host, port: port, loop: loop) { [weak self] result in
            guard let self, self.completion != nil else { return }
            self.resolving = nil
            switch result {
            case .success(let addresses): self.connect(addresses[...])
            case .failure(let error): self.fail(.resolve(name: self.dialledName(host: true), reason: error.reason))
            }
        }
    }

    /// What the dial is doing now, for a timeout message:
    /// "connecting to egress proxy p:3128", "in the TLS handshake with gateway gw:443".
    public var activity: String {
        switch stage {
        case .idle: return "before dialling \(target.role) \(target.authority)"
        case .resolving: return "resolving \(dialledName(host: true))"
        case .connecting: return "connecting to \(dialledName(host: false))"
        case .proxyConnect:
            return "waiting for egress proxy \(target.proxy?.authority ?? "") to open a tunnel to \(target.role) \(target.authority)"
        case .handshaking: return "in the TLS handshake with \(target.namedWithRoute)"
        case .finished: return "after dialling \(target.role) \(target.authority)"
        }
    }

    /// The owner gives up (timeout, shutdown, the local side left): close
    /// everything, report nothing. A no-op once the completion has run.
    public func cancel() {
        guard completion != nil else { return }
        completion = nil
        stage = .finished
        release()
    }

    // MARK: TCP

    /// Tries each address in turn, whether libuv refuses at once (e.g. no
    /// IPv6 route) or the connect fails later; reports the last failure.
    /// Internal so tests can hand in addresses no resolver would return.
    func connect(_ addresses: ArraySlice<SocketAddress>) {
        guard let address = addresses.first else { return }
        stage = .connecting
        let next = addresses.dropFirst()
        do throws(UVError) {
            let socket = try UVStream.tcp(loop: loop)
            self.socket = socket
            try socket.connect(to: address) { [weak self] error in
                guard let self, self.completion != nil, self.socket === socket else { return }
                guard let error else { return self.connected(socket) }
                self.connectFailed(address, error.reason, next: next)
            }
        } catch {
            connectFailed(address, error.reason, next: next)
        }
    }

    private func connectFailed(_ address: SocketAddress, _ reason: String, next: ArraySlice<SocketAddress>) {
        socket?.close()
        socket = nil
        guard next.isEmpty else { return connect(next) }
        fail(.connect(name: dialledName(host: false), address: "\(address)", reason: reason))
    }

    private func connected(_ socket: UVStream) {
        socket.setNoDelay()
        socket.setKeepAlive()
        guard let proxy = target.proxy else { return startTLS(over: socket, early: nil) }
        askProxy(proxy, over: socket)
    }

    // MARK: Egress proxy

    private func askProxy(_ proxy: ProxyEndpoint, over socket: UVStream) {
        stage = .proxyConnect
        let client = ConnectClient(stream: socket, pool: loop.buffers, peer: "egress proxy \(proxy.authority)")
        proxyClient = client
        let request = ConnectRequest.encode(authority: target.authority, userAgent: target.userAgent,
                                            credential: proxy.basicAuthorization.map { .proxyAuthorization($0) })
        client.start(request: request) { [weak self] result in
            guard let self, self.completion != nil else {
                if case .success(let answer) = result, let leftover = answer.leftover { socket.loop.buffers.give(leftover) }
                return
            }
            self.proxyClient = nil
            switch result {
            case .success(let answer) where (200..<300).contains(answer.head.status):
                // Bytes after the head came from the gateway through the tunnel.
                self.startTLS(over: socket, early: answer.leftover)
            case .success(let answer):
                if let leftover = answer.leftover { self.loop.buffers.give(leftover) }
                self.fail(.proxyRefused(ProxyRefusal(
                    proxy: proxy.authority, status: answer.head.status, reasonPhrase: answer.head.reason,
                    target: self.target.authority, targetRole: self.target.role, sentCredentials: proxy.user != nil)))
            case .failure(let failure):
                self.fail(.proxyExchange(failure.description))
            }
        }
    }

    // MARK: TLS

    /// `early`: bytes that arrived with the proxy's answer; TLS reads them
    /// first, and a plain stream hands them to its reader first.
    /// `mayWait`: false once released by SessionTicketWait (never waits twice).
    private func startTLS(over socket: UVStream, early: Buffer?, mayWait: Bool = true) {
        guard let context = target.tls else {
            return succeed(early.map { PrefixedStream(socket, first: $0, pool: loop.buffers) } ?? socket)
        }
        stage = .handshaking
        var watch: ((TLSSession.TicketEvent) -> Void)?
        if mayWait {
            // The session cache's key is the verified name (TLSSession.serverName).
            let admission = loop.sessionTicketWait.admit(cache: context.sessionCache, name: target.host,
                                                         limitMilliseconds: ticketWaitLimitMilliseconds) { [weak self] in
                guard let self, self.completion != nil else { return }
                self.ticketWaiter = nil
                let early = self.heldEarly
                self.heldEarly = nil
                self.startTLS(over: socket, early: early, mayWait: false)
            }
            switch admission {
            case .go: break
            case .lead(let leaderWatch): watch = leaderWatch
            case .wait(let waiter):
                ticketWaiter = waiter
                heldEarly = early
                return
            }
        }
        let tls: TLSStream
        do {
            tls = try TLSStream.client(socket: socket, context: context, serverName: target.host, verifyName: target.verifyHostName)
        } catch {
            watch?(.noTicket)  // no handshake to report on: release any waiters
            if let early { loop.buffers.give(early) }
            return fail(.tlsHandshake(peer: target.namedWithRoute, reason: error.message))
        }
        self.tls = tls
        tls.ticketWatch = watch
        tls.endsWithCloseNotifyOnly = target.proxy != nil
        if let early { tls.feedEarlyCiphertext(early) }
        tls.handshake { [weak self] error in
            guard let self, self.completion != nil, self.tls === tls else { return }
            if let error { return self.fail(Self.handshakeFailure(error, peer: self.target.namedWithRoute)) }
            self.succeed(tls)
        }
    }

    // MARK: Ending

    private func succeed(_ stream: ByteStream) {
        guard let done = completion else { return stream.close() }
        completion = nil
        // The stream is the owner's now: forget it so a late cancel() cannot close it.
        socket = nil
        tls = nil
        stage = .finished
        done(.success(stream))
    }

    private func fail(_ failure: DialFailure) {
        guard let done = completion else { return }
        completion = nil
        stage = .finished
        release()
        done(.failure(failure))
    }

    private static func handshakeFailure(_ error: TLSError, peer: String) -> DialFailure {
        if let problem = error.certificateProblem { return .certificate(peer: peer, reason: problem) }
        return .tlsHandshake(peer: peer, reason: error.message)
    }

    private func release() {
        resolving?.abandon()
        resolving = nil
        proxyClient?.cancel()
        proxyClient = nil
        if let early = heldEarly { loop.buffers.give(early) }
        heldEarly = nil
        ticketWaiter?.withdraw()
        ticketWaiter = nil
        if let tls { tls.close() } else { socket?.close() }
        tls = nil
        socket = nil
    }

    /// "egress proxy p:3128" or "gateway gw:443" (`host`: "gateway gw", for DNS).
    private func dialledName(host: Bool) -> String {
        if let proxy = target.proxy { return "egress proxy \(host ? proxy.host : proxy.authority)" }
        return "\(target.role) \(host ? target.host : target.authority)"
    }
}
