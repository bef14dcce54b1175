/// One HTTP/1.1 GET on the loop, with TLS when the URL is https, a bounded
/// head and body, redirects followed, and one deadline for all of it. Used by
/// the sign-in flow for the gateway's login endpoint. Each hop (the URL and
/// every redirect) is dialled by GatewayDialer, through the egress proxy
/// when one applies to that host.
public final class HTTPFetch {
    public struct Response: Sendable {
        public var url: HTTPURL
        public var head: ResponseHead
        public var body: [UInt8]
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    private let loop: EventLoop
    private let tls: TLSContext
    private let verifyHostName: Bool
    private let userAgent: String
    private let egressProxy: EgressProxy
    private let timer: UVTimer
    private var completion: ((Result<Response, Failure>) -> Void)?
    private var redirectsLeft: Int
    private var url: HTTPURL
    private var dialer: GatewayDialer?
    private var stream: ByteStream?
    private var headParser = ResponseHeadParser()
    private var head: ResponseHead?
    private var bodyDecoder: HTTPBodyDecoder?

    private init(url: HTTPURL, loop: EventLoop, tls: TLSContext, verifyHostName: Bool, userAgent: String,
                 egressProxy: EgressProxy, maxRedirects: Int, completion: @escaping (Result<Response, Failure>) -> Void) {
        self.url = url
        self.loop = loop
        self.tls = tls
        self.verifyHostName = verifyHostName
        self.userAgent = userAgent
        self.egressProxy = egressProxy
        redirectsLeft = maxRedirects
        self.completion = completion
        timer = UVTimer(loop: loop)
    }

    /// Starts the GET; `completion` runs once, from the loop, unless the
    /// returned fetch is cancelled first.
    @discardableResult
    public static func get(_ url: HTTPURL, loop: EventLoop, tls: TLSContext, verifyHostName: Bool,
                           userAgent: String, egressProxy: EgressProxy = .direct, timeoutMilliseconds: UInt64,
                           maxRedirects: Int = 5, completion: @escaping (Result<Response, Failure>) -> Void) -> HTTPFetch {
        let fetch = HTTPFetch(url: url, loop: loop, tls: tls, verifyHostName: verifyHostName, userAgent: userAgent,
                              egressProxy: egressProxy, maxRedirects: maxRedirects, completion: completion)
        // The timer's closure keeps the fetch alive until it finishes.
        fetch.timer.start(milliseconds: timeoutMilliseconds) {
            fetch.finish(.failure(Failure(message: "GET \(url) timed out after \(timeoutMilliseconds / 1000)s")))
        }
        fetch.begin()
        return fetch
    }

    /// Drops the GET without an answer: its connection and timer close now, so
    /// a loop that is stopping does not wait for the deadline. Idempotent.
    public func cancel() {
        guard completion != nil else { return }
        completion = nil
        timer.close()
        closeConnection()
    }

    private func begin() {
        let target = url
        let proxy = egressProxy.proxy(forHost: target.host, port: target.port, tls: target.isTLS)
        let hop = GatewayDialer(loop: loop, target: DialTarget(
            host: target.host, port: target.port, tls: target.isTLS ? tls : nil, verifyHostName: verifyHostName,
            proxy: proxy, userAgent: userAgent, role: "host")) { [self] result in
            self.dialer = nil
            guard completion != nil else {
                if case .success(let stream) = result { stream.close() }
                return
            }
            switch result {
            case .success(let connected):
                stream = connected
                sendRequest()
            case .failure(let error):
                finish(.failure(Failure(message: "GET \(target): \(error)")))
            }
        }
        dialer = hop
        hop.start()
    }

    private func sendRequest() {
        guard let stream else { return }
        let hostHeader = url.hasExplicitPort ? url.authority : url.hostForURL
        let request = "GET \(url.pathAndQuery) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: \(userAgent)\r\n"
            + "Accept: text/plain, */*\r\nConnection: close\r\n\r\n"
        let buffer = loop.buffers.take()
        buffer.append(Array(request.utf8))
        stream.write([buffer]) { [self] error in
            if let error, completion != nil { finish(.failure(Failure(message: "GET \(url): \(error.message)"))) }
        }
        stream.onRead = { [self] event in received(event) }
        stream.startReading()
    }

    private func received(_ event: ReadEvent) {
        switch event {
        case .data(let buffer):
            let bytes = buffer.bytes
            loop.buffers.give(buffer)
            do throws(HTTPHeadError) {
                try consume(bytes[...])
            } catch {
                finish(.failure(Failure(message: "GET \(url): \(error)")))
            }
        case .eof:
            do throws(HTTPHeadError) {
                guard let head, let decoder = bodyDecoder else { throw headParser.endOfInput() }
                complete(head, try decoder.endOfInput())
            } catch {
                finish(.failure(Failure(message: "GET \(url): \(error)")))
            }
        case .error(let error):
            finish(.failure(Failure(message: "GET \(url): \(error.message)")))
        }
    }

    private func consume(_ bytes: ArraySlice<UInt8>) throws(HTTPHeadError) {
        var rest = bytes
        if head == nil {
            guard case .complete(let parsed, let consumed) = try headParser.feed(rest) else { return }
            head = parsed
            bodyDecoder = HTTPBodyDecoder(head: parsed)
            rest = rest.dropFirst(consumed)
        }
        guard let head, var decoder = bodyDecoder else { return }
        let step = try decoder.feed(rest)
        bodyDecoder = decoder
        if case .complete(let body) = step { complete(head, body) }
    }

    private func complete(_ head: ResponseHead, _ body: [UInt8]) {
        guard completion != nil else { return }
        if (300..<400).contains(head.status), head.status != 304, let location = head.value(of: "Location") {
            guard redirectsLeft > 0 else {
                return finish(.failure(Failure(message: "GET \(url): too many redirects")))
            }
            guard let next = try? url.resolving(location) else {
                return finish(.failure(Failure(message: "GET \(url): unusable redirect")))
            }
            redirectsLeft -= 1
            closeConnection()
            url = next
            headParser = ResponseHeadParser()
            self.head = nil
            bodyDecoder = nil
            return begin()
        }
        finish(.success(Response(url: url, head: head, body: body)))
    }

    private func closeConnection() {
        dialer?.cancel()
        dialer = nil
        stream?.close()
        stream = nil
    }

    private func finish(_ result: Result<Response, Failure>) {
        guard let done = completion else { return }
        completion = nil
        timer.close()
        closeConnection()
        done(result)
    }
}
