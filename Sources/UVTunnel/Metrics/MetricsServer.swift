/// Serves `GET /metrics` on the loop (Prometheus text format). Each
/// connection gets one bounded request, one answer, then a close.
public final class MetricsServer {
    private let loop: EventLoop
    private let metrics: TunnelMetrics
    private var listener: TCPListener?
    private var connections: [ObjectIdentifier: MetricsConnection] = [:]

    public init(loop: EventLoop, metrics: TunnelMetrics) {
        self.loop = loop
        self.metrics = metrics
    }

    @discardableResult
    public func listen(on address: SocketAddress) throws(UVError) -> SocketAddress {
        let listener = try TCPListener(loop: loop, address: address, backlog: 64)
        listener.start { [weak self] client in
            guard let self, self.connections.count < 64 else { return client.close() }
            let connection = MetricsConnection(loop: self.loop, stream: client, metrics: self.metrics) { [weak self] done in
                self?.connections[ObjectIdentifier(done)] = nil
            }
            self.connections[ObjectIdentifier(connection)] = connection
            connection.start()
        }
        self.listener = listener
        return listener.address
    }

    public func close() {
        listener?.close()
        listener = nil
        for connection in connections.values { connection.close() }
    }
}

private final class MetricsConnection {
    private let loop: EventLoop
    private let stream: UVStream
    private let metrics: TunnelMetrics
    private let timer: UVTimer
    private var parser = ConnectRequestParser(limit: 8192)
    private var isClosed = false
    private var onClosed: ((MetricsConnection) -> Void)?

    init(loop: EventLoop, stream: UVStream, metrics: TunnelMetrics, onClosed: @escaping (MetricsConnection) -> Void) {
        self.loop = loop
        self.stream = stream
        self.metrics = metrics
        self.onClosed = onClosed
        timer = UVTimer(loop: loop)
    }

    func start() {
        timer.start(milliseconds: 10_000) { [weak self] in self?.close() }
        stream.onRead = { [weak self] event in self?.received(event) }
        stream.startReading()
    }

    private func received(_ event: ReadEvent) {
        guard case .data(let buffer) = event else { return close() }
        let bytes = buffer.bytes
        loop.buffers.give(buffer)
        let response: String
        do {
            guard case .complete(let head, _) = try parser.feed(bytes) else { return }
            let path = head.target.prefix { $0 != "?" }
            if head.method == "GET" && path == "/metrics" {
                let body = metrics.render()
                response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            } else {
                response = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\nnot found: /metrics\n"
            }
        } catch {
            response = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        }
        stream.onRead = nil
        stream.stopReading()
        stream.write(loop.buffers.buffers(copying: Array(response.utf8))) { _ in }
        stream.shutdownWrite { [weak self] _ in self?.close() }
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        timer.close()
        stream.close()
        let done = onClosed
        onClosed = nil
        done?(self)
    }
}
