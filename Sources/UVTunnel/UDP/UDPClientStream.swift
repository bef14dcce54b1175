import CShims

/// One UDP client's side of a session, as the `ByteStream` a `Tunnel` relays:
/// reading it gives DATAGRAM capsules, one per datagram the client sent;
/// writing capsule bytes to it sends each datagram they carry back to the
/// client, from the listening socket. So a UDP session is a Tunnel like any
/// other (token, one sign-in and retry, lifetime, one log line at the end),
/// and its gateway side is the capsule stream the connector opened.
///
/// A Tunnel does not read its local side until the gateway has answered:
/// datagrams that come before wait here, at most `queueLimit` of them (the
/// oldest dropped beyond it, and counted), and are read first, in order.
final class UDPClientStream: ByteStream {
    /// Datagrams larger than this are dropped: a capsule of one must fit one
    /// pool buffer (type 1 + length 4 + context 1 bytes in front).
    static let maxPayload = 65_536 - 6

    let client: SocketAddress
    private let socket: UDPSocket
    private let pool: BufferPool
    private let queueLimit: Int
    /// Capsules waiting to be read, oldest first; `head` is the next one.
    private var queue: [[UInt8]] = []
    private var head = 0
    private var decoder = CapsuleDecoder()
    private var isReading = false
    private var isDelivering = false
    private var isClosed = false
    /// When a datagram last went either way (the idle timeout's clock).
    private(set) var lastActivity: UInt64
    private let now: () -> UInt64
    /// Datagrams dropped because the queue was full.
    private(set) var queueDrops = 0
    /// Datagrams (and their payload bytes) sent back to the client.
    private(set) var datagramsDown = 0
    private(set) var bytesDown: Int64 = 0
    /// Runs when the gateway ends the capsule stream (nil: cleanly, between
    /// capsules) or breaks it (the reason): the session is over either way.
    var onGatewayEnded: ((String?) -> Void)?

    var onRead: ((ReadEvent) -> Void)?

    init(client: SocketAddress, socket: UDPSocket, loop: EventLoop, queueLimit: Int) {
        self.client = client
        self.socket = socket
        pool = loop.buffers
        self.queueLimit = max(1, queueLimit)
        now = { loop.now }
        lastActivity = loop.now
    }

    // MARK: From the client

    /// A datagram from the client (the listener read it); the buffer is given back here.
    func received(_ buffer: Buffer) -> Bool {
        defer { pool.give(buffer) }
        guard !isClosed else { return false }
        guard buffer.count <= Self.maxPayload else { return false }
        lastActivity = now()
        let capsule = buffer.withReadableBytes { CapsuleEncoder.datagram($0) }
        if queue.count - head >= queueLimit {
            head += 1
            queueDrops += 1
        }
        queue.append(capsule)
        deliver()
        return true
    }

    func startReading() {
        guard !isClosed else { return }
        isReading = true
        deliver()
    }

    func stopReading() { isReading = false }

    /// Hands queued capsules to the reader while it reads, as many as fit in
    /// one pool buffer at a time: datagrams that queued while the gateway
    /// connection was busy leave in one write (one TLS record, one syscall)
    /// instead of one each, which is what keeps up at 100 Mbit/s. Not
    /// re-entered: a reader that restarts reading from its callback is served
    /// by this loop.
    private func deliver() {
        guard !isDelivering else { return }
        isDelivering = true
        defer { isDelivering = false }
        while isReading, !isClosed, head < queue.count, let onRead {
            let buffer = pool.take()
            while head < queue.count, queue[head].count <= buffer.freeSpace {
                queue[head].withUnsafeBytes { capsule in
                    _ = buffer.fill { into, _ in
                        into.copyMemory(from: capsule.baseAddress!, byteCount: capsule.count)
                        return capsule.count
                    }
                }
                queue[head] = []
                head += 1
            }
            guard !buffer.isEmpty else {
                pool.give(buffer)  // cannot happen: a capsule of the largest datagram fits one buffer
                break
            }
            onRead(.data(buffer))
        }
        if head == queue.count {
            queue.removeAll(keepingCapacity: queue.count <= 16)
            head = 0
        } else if head > 64 {
            queue.removeFirst(head)
            head = 0
        }
    }

    // MARK: To the client

    func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        take(buffers)
        completion(nil)
    }

    func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        take(buffers)
        return true
    }

    /// Reads the gateway's capsules and sends each datagram to the client.
    /// UDP has no backpressure: a send the kernel cannot take is lost, as it
    /// would be on the network. A broken capsule stream is the gateway's
    /// fault, not a write error on this side: it goes to `onGatewayEnded`.
    private func take(_ buffers: [Buffer]) {
        var failure: CapsuleError?
        for buffer in buffers {
            if failure == nil, !isClosed {
                let fed = buffer.withReadableBytes { bytes in
                    Result { () throws(CapsuleError) in
                        try decoder.feed(bytes) { event in
                            if case .datagram(let payload) = event { send(payload) }
                        }
                    }
                }
                if case .failure(let error) = fed { failure = error }
            }
            pool.give(buffer)
        }
        if let failure { onGatewayEnded?(failure.message) }
    }

    private func send(_ payload: [UInt8]) {
        guard payload.count <= pool.bufferSize else { return }
        lastActivity = now()
        datagramsDown += 1
        bytesDown += Int64(payload.count)
        let buffer = pool.take()
        payload.withUnsafeBytes { bytes in
            _ = buffer.fill { into, _ in
                if let base = bytes.baseAddress { into.copyMemory(from: base, byteCount: bytes.count) }
                return bytes.count
            }
        }
        socket.send(buffer, to: client)
    }

    /// The gateway ended the capsule stream: nothing more can come back, so
    /// the session ends (a UDP client cannot be told about a half-close).
    func shutdownWrite(completion: @escaping (StreamError?) -> Void) {
        completion(nil)
        onGatewayEnded?(decoder.isAtBoundary ? nil : "the gateway ended the capsule stream inside a capsule")
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        isReading = false
        onRead = nil
        onGatewayEnded = nil
        queue = []
        head = 0
    }
}
