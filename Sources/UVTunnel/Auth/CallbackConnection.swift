/// One connection to the sign-in callback listener: read one bounded request
/// (head, then a form body if any) within a deadline, answer it, close.
/// Junk, scans and second requests get an answer or a close, never a hang.
///
/// Its callbacks hold it strongly on purpose: it keeps itself alive until its
/// own `close()`, even after the sign-in that accepted it has finished.
final class CallbackConnection {
    private let loop: EventLoop
    private let stream: UVStream
    private let timer: UVTimer
    private var parser = ConnectRequestParser()
    private var head: ConnectRequestHead?
    private var body: [UInt8] = []
    private var bodyLength = 0
    private var isClosed = false
    private var answered = false
    private var onToken: ((String) -> Void)?
    private var onClosed: ((CallbackConnection) -> Void)?

    init(loop: EventLoop, stream: UVStream, onToken: @escaping (String) -> Void, onClosed: @escaping (CallbackConnection) -> Void) {
        self.loop = loop
        self.stream = stream
        self.onToken = onToken
        self.onClosed = onClosed
        timer = UVTimer(loop: loop)
    }

    func start() {
        timer.start(milliseconds: 10_000) { self.close() }
        stream.onRead = { event in self.received(event) }
        stream.startReading()
    }

    private func received(_ event: ReadEvent) {
        guard case .data(let buffer) = event else { return close() }
        let bytes = buffer.bytes
        loop.buffers.give(buffer)
        guard !answered else { return }
        var rest = bytes[...]
        if head == nil {
            let parsed: ConnectRequestHead
            do {
                guard case .complete(let complete, let consumed) = try parser.feed(rest) else { return }
                parsed = complete
                rest = rest.dropFirst(consumed)
            } catch {
                // The reason is not shown: it quotes request bytes, which may hold a token.
                return answer(SignInCallback.badRequest(reason: "\(error)"), token: nil)
            }
            do {
                bodyLength = try SignInCallback.bodyLength(of: parsed)
            } catch {
                return answer(error.response, token: nil)  // 411/413 with its own page
            }
            head = parsed
        }
        body += rest.prefix(bodyLength - body.count)
        guard let head, body.count >= bodyLength else { return }
        switch SignInCallback.handle(head: head, body: body) {
        case .token(let token, let response): answer(response, token: token)
        case .rejected(let response, _): answer(response, token: nil)
        }
    }

    private func answer(_ response: [UInt8], token: String?) {
        answered = true
        stream.stopReading()
        let buffer = loop.buffers.take()
        buffer.append(response)
        stream.write([buffer]) { _ in }
        stream.shutdownWrite { _ in self.close() }
        // Reported at once: the token is good whether or not the browser reads the page.
        if let token, let deliver = onToken {
            onToken = nil
            deliver(token)
        }
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        timer.close()
        stream.close()
        onToken = nil
        let done = onClosed
        onClosed = nil
        done?(self)
    }
}
