/// A connection being dialled, and the attempts waiting for it.
final class HTTP2Dial {
    private var dialer: GatewayDialer?
    private(set) var waiting: [HTTP2ConnectAttempt] = []
    /// Set once TLS is up: the connection waits for the server's SETTINGS.
    var connection: HTTP2Connection?

    init(loop: EventLoop, target: DialTarget, completion: @escaping (HTTP2Dial, Result<ByteStream, DialFailure>) -> Void) {
        dialer = nil
        dialer = GatewayDialer(loop: loop, target: target) { [weak self] result in
            guard let self else {
                if case .success(let stream) = result { stream.close() }
                return
            }
            self.dialer = nil
            completion(self, result)
        }
    }

    var stage: ConnectStage {
        if connection != nil { return .handshaking }
        return dialer.map { ConnectStage(dialing: $0.stage) } ?? .finished
    }

    var activity: String {
        if connection != nil { return "waiting for the gateway's HTTP/2 SETTINGS" }
        return dialer?.activity ?? "dialling the gateway"
    }

    func start() { dialer?.start() }

    func add(_ attempt: HTTP2ConnectAttempt) {
        waiting.append(attempt)
        attempt.waiting(on: self)
    }

    func remove(_ attempt: HTTP2ConnectAttempt) {
        waiting.removeAll { $0 === attempt }
    }

    func cancel() {
        dialer?.cancel()
        dialer = nil
    }
}
