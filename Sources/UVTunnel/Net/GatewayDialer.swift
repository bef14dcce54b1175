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
    private var completion: ((Result<ByteStream, DialError>) -> Void)?
    private var resolving: ResolveRequest?
    private var socket: UVStream?
    private var tls: TLSStream?
    private var proxyParser: ResponseHeadParser?

    public init(loop: EventLoop, target: DialTarget, completion: @escaping (Result<ByteStream, DialError>) -> Void) {
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
            case .failure(let error): self.fail("cannot resolve \(self.dialledName(host: true)): \(error.reason)")
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
        fail("cannot reach \(dialledName(host: false)) at \(address): \(reason)")
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
        proxyParser = ResponseHeadParser(peer: "egress proxy \(proxy.authority)")
        let request = ProxyConnectRequest.encode(authority: target.authority, userAgent: target.userAgent,
                                                 proxyAuthorization: proxy.basicAuthorization)
        socket.write(loop.buffers.buffers(copying: request)) { [weak self] error in
            guard let self, let error, self.completion != nil, self.stage == .proxyConnect else { return }
            self.fail("sending CONNECT to egress proxy \(proxy.authority): \(error.message)")
        }
        socket.onRead = { [weak self] event in self?.proxyAnswerRead(event, socket: socket, proxy: proxy) }
        socket.startReading()
    }

    private func proxyAnswerRead(_ event: ReadEvent, socket: UVStream, proxy: ProxyEndpoint) {
        guard completion != nil, var parser = proxyParser else {
            if case .data(let buffer) = event { loop.buffers.give(buffer) }
            return
        }
        switch event {
        case .data(let buffer):
            let step: HeadParseStep<ResponseHead>
            do {
                step = try buffer.withReadableBytes { try parser.feed($0) }
                proxyParser = parser
            } catch {
                loop.buffers.give(buffer)
                return fail("\(error)")
            }
            guard case .complete(let head, let consumed) = step else { return loop.buffers.give(buffer) }
            buffer.consume(consumed)
            socket.stopReading()
            socket.onRead = nil
            proxyParser = nil
            guard (200..<300).contains(head.status) else {
                loop.buffers.give(buffer)
                return fail(Self.refusal(head, proxy: proxy, target: target))
            }
            // Bytes after the head came from the gateway through the tunnel.
            guard !buffer.isEmpty else {
                loop.buffers.give(buffer)
                return startTLS(over: socket, early: nil)
            }
            startTLS(over: socket, early: buffer)
        case .eof:
            fail("\(parser.endOfInput()) to CONNECT \(target.authority)")
        case .error(let error):
            fail("reading egress proxy \(proxy.authority)'s answer: \(error.message)")
        }
    }

    /// "egress proxy p:3128 answered 407 "Proxy Authentication Required" to
    /// CONNECT gw:443", with what to do about the common ones.
    static func refusal(_ head: ResponseHead, proxy: ProxyEndpoint, target: DialTarget) -> String {
        var message = "egress proxy \(proxy.authority) answered \(head.status) \(PrintableText.quoted(head.reason)) to CONNECT \(target.authority)"
        switch head.status {
        case 407:
            message += proxy.user == nil
                ? "; it wants a user name and password: give them in the proxy URL, http://USER:PASSWORD@\(proxy.authority)"
                : "; it refused the user name and password in the proxy URL"
        case 403:
            message += "; its rules do not allow CONNECT to \(target.authority) (ask its administrator, or add the host to NO_PROXY if it is reachable directly)"
        case 502, 503, 504:
            message += "; the proxy could not reach the \(target.role)"
        default:
            break
        }
        return message
    }

    // MARK: TLS

    /// `early`: bytes that arrived with the proxy's answer; TLS reads them
    /// first, and a plain stream hands them to its reader first.
    private func startTLS(over socket: UVStream, early: Buffer?) {
        guard let context = target.tls else {
            return succeed(early.map { PrefixedStream(socket, first: $0, pool: loop.buffers) } ?? socket)
        }
        stage = .handshaking
        let tls: TLSStream
        do {
            tls = try TLSStream.client(socket: socket, context: context, serverName: target.host, verifyName: target.verifyHostName)
        } catch {
            if let early { loop.buffers.give(early) }
            return fail("\(target.namedWithRoute): \(error.message)")
        }
        self.tls = tls
        tls.endsWithCloseNotifyOnly = target.proxy != nil
        if let early { tls.feedEarlyCiphertext(early) }
        tls.handshake { [weak self] error in
            guard let self, self.completion != nil, self.tls === tls else { return }
            if let error { return self.fail("\(self.target.namedWithRoute): \(error.message)") }
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

    private func fail(_ message: String) {
        guard let done = completion else { return }
        completion = nil
        stage = .finished
        release()
        done(.failure(DialError(message)))
    }

    private func release() {
        resolving?.abandon()
        resolving = nil
        if let tls { tls.close() } else { socket?.close() }
        tls = nil
        socket = nil
        proxyParser = nil
    }

    /// "egress proxy p:3128" or "gateway gw:443" (`host`: "gateway gw", for DNS).
    private func dialledName(host: Bool) -> String {
        if let proxy = target.proxy { return "egress proxy \(host ? proxy.host : proxy.authority)" }
        return "\(target.role) \(host ? target.host : target.authority)"
    }
}
