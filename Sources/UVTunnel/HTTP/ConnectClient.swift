/// The client side of one HTTP/1.1 CONNECT exchange over a connected stream:
/// send the request, read the answer's head, hand back the head and any
/// bytes that came after it. One state machine serves both legs that speak
/// CONNECT: to an egress proxy (for the gateway's address) and to the gateway
/// (for the destination). What a status means is the caller's business.
///
/// States, as curl's cf-h1-proxy: idle ▸ sending ▸ awaitingHead ▸ established,
/// or failed from sending/awaitingHead. The answer is read from the start, so
/// a peer that answers or hangs up before the write completes is seen at once.
/// The stream stays the caller's: the client never closes it, and once it has
/// answered (or been cancelled) it no longer reads it. An owner that closes
/// the stream while the exchange runs cancels the client first (a closed
/// stream delivers no more reads, so the client would otherwise never answer).
public final class ConnectClient {
    public enum State: Equatable, Sendable {
        case idle, sending, awaitingHead, established, failed
    }

    /// The head and the tunnel bytes that arrived with it (the peer's first
    /// bytes through the tunnel: they must reach the other side first).
    public struct Answer {
        public let head: ResponseHead
        /// Never empty: nil when nothing followed the head.
        public let leftover: Buffer?
    }

    /// Why the exchange failed: one printable line that names the peer.
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// Writing the request failed.
        case send(String)
        /// Reading the answer failed (a socket or TLS error).
        case receive(String)
        /// The answer was not a valid HTTP/1.x head, or the peer closed first.
        case badAnswer(HTTPHeadError)

        public var description: String {
            switch self {
            case .send(let message), .receive(let message): return message
            case .badAnswer(let error): return error.message
            }
        }
    }

    public private(set) var state: State = .idle
    private let stream: ByteStream
    private let pool: BufferPool
    private let peer: String
    private var parser: ResponseHeadParser
    private var completion: ((Result<Answer, Failure>) -> Void)?

    /// `peer` names the far end in messages: "gateway", "egress proxy p:3128".
    public init(stream: ByteStream, pool: BufferPool, peer: String, headLimit: Int = 16 * 1024) {
        self.stream = stream
        self.pool = pool
        self.peer = peer
        parser = ResponseHeadParser(limit: headLimit, peer: peer)
    }

    /// Sends `request` (one encoded CONNECT) and reads the answer; `completion`
    /// runs once, from the loop, unless `cancel()` comes first.
    public func start(request: [UInt8], completion: @escaping (Result<Answer, Failure>) -> Void) {
        guard state == .idle else { return }
        self.completion = completion
        state = .sending
        stream.onRead = { [weak self] event in self?.read(event) }
        stream.write(pool.buffers(copying: request)) { [weak self] error in
            guard let self else { return }
            if let error { return self.fail(.send("sending CONNECT to the \(self.peer): \(error.message)")) }
            if self.state == .sending { self.state = .awaitingHead }
        }
        // The write may have failed at once.
        if state == .sending || state == .awaitingHead { stream.startReading() }
    }

    /// The owner went away (timeout, shutdown, the local side left): no
    /// callback after this, and the stream is no longer read.
    public func cancel() {
        guard completion != nil else { return }
        completion = nil
        state = .failed
        detach()
    }

    private func read(_ event: ReadEvent) {
        guard state == .sending || state == .awaitingHead else {
            if case .data(let buffer) = event { pool.give(buffer) }
            return
        }
        switch event {
        case .data(let buffer):
            let parsed = buffer.withReadableBytes { bytes in
                Result { () throws(HTTPHeadError) in try parser.feed(bytes) }
            }
            let step: HeadParseStep<ResponseHead>
            switch parsed {
            case .success(let parsedStep): step = parsedStep
            case .failure(let error):
                pool.give(buffer)
                return fail(.badAnswer(error))
            }
            guard case .complete(let head, let consumed) = step else { return pool.give(buffer) }
            buffer.consume(consumed)
            let leftover: Buffer?
            if buffer.isEmpty {
                pool.give(buffer)
                leftover = nil
            } else {
                leftover = buffer
            }
            succeed(Answer(head: head, leftover: leftover))
        case .eof:
            fail(.badAnswer(parser.endOfInput()))
        case .error(let error):
            fail(.receive("reading the \(peer)'s answer: \(error.message)"))
        }
    }

    private func succeed(_ answer: Answer) {
        state = .established
        detach()
        let done = completion
        completion = nil
        done?(.success(answer))
    }

    private func fail(_ failure: Failure) {
        guard let done = completion else { return }
        completion = nil
        state = .failed
        detach()
        done(.failure(failure))
    }

    /// The stream goes back to its owner, unread.
    private func detach() {
        stream.stopReading()
        stream.onRead = nil
    }
}
