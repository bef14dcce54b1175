import UVTunnel

/// The gateway's half of a connect-udp session after its 101: capsules from
/// the client become datagrams to the target, datagrams from the target
/// become capsules to the client. UDP has no backpressure, so neither does
/// this: a datagram the other side cannot take now is dropped, as a full
/// network queue would.
final class GatewayUDPRelay {
    /// Client writes in flight beyond which the target's datagrams are dropped.
    static let maxPendingWrites = 256

    private let loop: EventLoop
    private let client: ByteStream
    private let socket: UDPSocket
    private let target: SocketAddress
    private var decoder = CapsuleDecoder()
    private var pendingWrites = 0
    private var onEnd: ((String?) -> Void)?

    init(loop: EventLoop, client: ByteStream, socket: UDPSocket, target: SocketAddress, onEnd: @escaping (String?) -> Void) {
        self.loop = loop
        self.client = client
        self.socket = socket
        self.target = target
        self.onEnd = onEnd
    }

    /// Resolves `destination` and makes the socket a session relays through;
    /// `completion` gets the socket and the target's address, or why there
    /// is none (a 502's reason). Shared by the HTTP/1.1 upgrade and the
    /// HTTP/2 extended CONNECT, so both open sessions the same way.
    static func openSocket(for destination: ConnectTarget, loop: EventLoop,
                           completion: @escaping (Result<(UDPSocket, SocketAddress), SocketFailure>) -> Void) -> ResolveRequest? {
        Resolver.resolve(destination.host, port: destination.port, loop: loop) { result in
            guard case .success(let addresses) = result, let address = addresses.first else {
                return completion(.failure(SocketFailure(why: "cannot resolve \(destination.host)")))
            }
            do throws(UVError) {
                let any = try! SocketAddress(ip: address.isIPv6 ? "::" : "0.0.0.0", port: 0)  // literals that always parse
                let socket = try UDPSocket(loop: loop, binding: any)
                socket.setBufferSizes(1 << 20)  // a TLS read can hold a burst of datagrams for the target
                completion(.success((socket, address)))
            } catch {
                completion(.failure(SocketFailure(why: "UDP socket for \(destination): \(error.reason)")))
            }
        }
    }

    struct SocketFailure: Error {
        let why: String
    }

    /// `early`: bytes the client sent right behind its request head.
    func start(early: Buffer) throws(UVError) {
        try socket.startReceiving { [weak self] buffer, sender in
            guard let self, sender == self.target, self.pendingWrites < Self.maxPendingWrites else {
                return self?.loop.buffers.give(buffer) ?? ()
            }
            let capsule = buffer.withReadableBytes { CapsuleEncoder.datagram($0) }
            self.loop.buffers.give(buffer)
            self.pendingWrites += 1
            self.client.write(self.loop.buffers.buffers(copying: capsule)) { [weak self] error in
                guard let self else { return }
                self.pendingWrites -= 1
                if let error { self.end(error.message) }
            }
        }
        client.onRead = { [weak self] event in self?.clientRead(event) }
        if !early.isEmpty { clientRead(.data(early)) } else { loop.buffers.give(early) }
        client.startReading()
    }

    private func clientRead(_ event: ReadEvent) {
        switch event {
        case .data(let buffer):
            let fed = buffer.withReadableBytes { bytes in
                Result { () throws(CapsuleError) in
                    try decoder.feed(bytes) { event in
                        guard case .datagram(let payload) = event else { return }
                        let datagram = loop.buffers.take()
                        payload.withUnsafeBytes { bytes in
                            _ = datagram.fill { into, _ in
                                if let base = bytes.baseAddress { into.copyMemory(from: base, byteCount: bytes.count) }
                                return bytes.count
                            }
                        }
                        socket.send(datagram, to: target)
                    }
                }
            }
            loop.buffers.give(buffer)
            if case .failure(let error) = fed { end(error.message) }
        case .eof:
            end(decoder.isAtBoundary ? nil : "client ended the capsule stream inside a capsule")
        case .error(let error):
            end(error.message)
        }
    }

    private func end(_ reason: String?) {
        guard let done = onEnd else { return }
        onEnd = nil
        client.onRead = nil
        done(reason)
    }
}
