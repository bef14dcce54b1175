import XCTest
@testable import UVTunnel

/// GatewayDialer on one loop against a scripted egress proxy: what it sends,
/// how it reads the answer, where early bytes go, and that cancelling or
/// failing at any stage leaves no handle open and no buffer out.
final class GatewayDialerTests: XCTestCase {
    private let loopback = try! SocketAddress(ip: "127.0.0.1", port: 0)

    /// Runs the loop until everything is closed, with a watchdog: a dial that
    /// never finishes fails the test instead of hanging it.
    private func run(_ loop: EventLoop, watchdog seconds: UInt64 = 10, onTimeout: @escaping () -> Void) {
        let watchdog = UVTimer(loop: loop)
        watchdog.start(milliseconds: seconds * 1000) {
            XCTFail("the dial did not finish within \(seconds)s")
            onTimeout()
        }
        watchdog.unref()  // the loop ends when the dial's handles are gone
        loop.run()
        watchdog.close()
        loop.run()
    }

    private func plainTarget(proxy: ProxyEndpoint?) -> DialTarget {
        DialTarget(host: "gw.example", port: 443, tls: nil, verifyHostName: true, proxy: proxy, userAgent: "uvtunnel/test")
    }

    private func proxyEndpoint(_ proxy: ScriptedProxy, credentials: String = "") throws -> ProxyEndpoint {
        try ProxyEndpoint.parse("http://\(credentials)127.0.0.1:\(proxy.address.port)", origin: "test")
    }

    private func assertNothingLeft(_ loop: EventLoop, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(loop.buffers.outstanding, 0, "every buffer returned to the pool", file: file, line: line)
        XCTAssertEqual(loop.close(), 0, "no handle left open", file: file, line: line)
    }

    func test407NamesTheProxyTheStatusAndTheCredentials() throws {
        let loop = try EventLoop()
        let proxy = try ScriptedProxy(loop: loop, address: loopback,
                                      answer: "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n")
        var result: Result<ByteStream, DialFailure>?
        // gw.example is never resolved here: with a proxy only the proxy's name is.
        let dialer = GatewayDialer(loop: loop, target: plainTarget(proxy: try proxyEndpoint(proxy, credentials: "user:pass@"))) {
            result = $0
            proxy.close()
        }
        dialer.start()
        run(loop) { dialer.cancel(); proxy.close() }

        XCTAssertEqual(proxy.requests, ["CONNECT gw.example:443 HTTP/1.1\r\nHost: gw.example:443\r\nUser-Agent: uvtunnel/test\r\n"
                                        + "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n"])
        guard case .failure(let error) = result else { return XCTFail("expected a failure, got \(String(describing: result))") }
        XCTAssertEqual(error.description, "egress proxy 127.0.0.1:\(proxy.address.port) answered 407 \"Proxy Authentication Required\" "
                       + "to CONNECT gw.example:443; it refused the user name and password in the proxy URL")
        assertNothingLeft(loop)
    }

    func testBytesAfterTheProxysHeadAreTheCallersFirstRead() throws {
        let loop = try EventLoop()
        let proxy = try ScriptedProxy(loop: loop, address: loopback, answer: "HTTP/1.1 200 Connection established\r\n\r\nHELLO")
        var firstRead: [UInt8]?
        let dialer = GatewayDialer(loop: loop, target: plainTarget(proxy: try proxyEndpoint(proxy))) { result in
            guard case .success(let stream) = result else { return XCTFail("\(result)") }
            stream.onRead = { event in
                if case .data(let buffer) = event {
                    firstRead = buffer.bytes
                    loop.buffers.give(buffer)
                }
                stream.close()
                proxy.close()
            }
            stream.startReading()
        }
        dialer.start()
        run(loop) { dialer.cancel(); proxy.close() }
        XCTAssertEqual(firstRead.map { String(decoding: $0, as: UTF8.self) }, "HELLO")
        assertNothingLeft(loop)
    }

    func testBytesAfterTheProxysHeadAreFedToTLS() throws {
        let loop = try EventLoop()
        // Not a TLS record: the handshake can only fail at once if it read these bytes;
        // without them it would wait for the server forever (the watchdog's case).
        let proxy = try ScriptedProxy(loop: loop, address: loopback, answer: "HTTP/1.1 200 OK\r\n\r\nnot a TLS record\r\n")
        var target = plainTarget(proxy: try proxyEndpoint(proxy))
        target.tls = try TLSContext.client(TLSClientOptions())
        var failure: String?
        let dialer = GatewayDialer(loop: loop, target: target) { result in
            if case .failure(let error) = result { failure = error.description }
            if case .success(let stream) = result { stream.close() }
            proxy.close()
        }
        dialer.start()
        run(loop) { dialer.cancel(); proxy.close() }
        let message = try XCTUnwrap(failure)
        XCTAssertTrue(message.hasPrefix("gateway gw.example:443 (through egress proxy 127.0.0.1:\(proxy.address.port)): TLS handshake failed"), message)
        assertNothingLeft(loop)
    }

    func testProxyThatIsNotHTTPIsNamed() throws {
        let loop = try EventLoop()
        let proxy = try ScriptedProxy(loop: loop, address: loopback, answer: "SSH-2.0-OpenSSH_9.6\r\n")
        var failure: String?
        let dialer = GatewayDialer(loop: loop, target: plainTarget(proxy: try proxyEndpoint(proxy))) { result in
            if case .failure(let error) = result { failure = error.description }
            proxy.close()
        }
        dialer.start()
        run(loop) { dialer.cancel(); proxy.close() }
        XCTAssertEqual(failure, "egress proxy 127.0.0.1:\(proxy.address.port) sent an invalid response: expected \"HTTP/1.1 <status>\", got \"SSH-2.0-OpenSSH_9.6\\r\\n\"")
        assertNothingLeft(loop)
    }

    func testClosedProxyPortSaysCannotReachEgressProxy() throws {
        let loop = try EventLoop()
        let closed = try freePort(loop)
        var failure: String?
        let target = plainTarget(proxy: try ProxyEndpoint.parse("http://127.0.0.1:\(closed)", origin: "test"))
        let dialer = GatewayDialer(loop: loop, target: target) { result in
            if case .failure(let error) = result { failure = error.description }
        }
        dialer.start()
        run(loop) { dialer.cancel() }
        XCTAssertEqual(failure, "cannot reach egress proxy 127.0.0.1:\(closed) at 127.0.0.1:\(closed): connection refused")
        assertNothingLeft(loop)
    }

    func testEachAddressIsTriedWhetherItFailsAtOnceOrLater() throws {
        let loop = try EventLoop()
        let echo = try LoopEcho(loop: loop, address: loopback)
        let closed = try freePort(loop)
        // Broadcast: libuv refuses the connect synchronously (network unreachable);
        // the closed port is refused later, from the loop.
        let addresses = [try SocketAddress(ip: "255.255.255.255", port: 9), try SocketAddress(ip: "127.0.0.1", port: closed), echo.address]
        var connected = false
        let target = DialTarget(host: "127.0.0.1", port: echo.address.port, tls: nil, verifyHostName: true, proxy: nil, userAgent: "t")
        let dialer = GatewayDialer(loop: loop, target: target) { result in
            if case .success(let stream) = result {
                connected = true
                stream.close()
            } else {
                XCTFail("\(result)")
            }
            echo.close()
        }
        dialer.connect(addresses[...])
        run(loop) { dialer.cancel(); echo.close() }
        XCTAssertTrue(connected)
        assertNothingLeft(loop)
    }

    func testCancelWhileWaitingForTheProxyCallsNothingAndLeavesNothingOpen() throws {
        let loop = try EventLoop()
        let proxy = try ScriptedProxy(loop: loop, address: loopback, answer: nil)
        var called = false
        let dialer = GatewayDialer(loop: loop, target: plainTarget(proxy: try proxyEndpoint(proxy))) { _ in called = true }
        var stages: [GatewayDialer.Stage] = []
        dialer.onStage = { stages.append($0) }
        proxy.onRequest = {
            XCTAssertEqual(dialer.stage, .proxyConnect)
            XCTAssertTrue(dialer.activity.hasPrefix("waiting for egress proxy 127.0.0.1:"), dialer.activity)
            dialer.cancel()
            dialer.cancel()  // idempotent
            proxy.close()
        }
        dialer.start()
        run(loop) { dialer.cancel(); proxy.close() }
        XCTAssertFalse(called, "no callback after cancel")
        XCTAssertEqual(stages, [.resolving, .connecting, .proxyConnect, .finished])
        assertNothingLeft(loop)
    }

    func testCancelWhileResolvingCallsNothing() throws {
        let loop = try EventLoop()
        var called = false
        let target = DialTarget(host: "localhost", port: 9, tls: nil, verifyHostName: true, proxy: nil, userAgent: "t")
        let dialer = GatewayDialer(loop: loop, target: target) { _ in called = true }
        dialer.start()
        XCTAssertEqual(dialer.stage, .resolving)
        dialer.cancel()
        run(loop) {}
        XCTAssertFalse(called)
        assertNothingLeft(loop)
    }

    /// A port nothing listens on: bound, then closed.
    private func freePort(_ loop: EventLoop) throws -> UInt16 {
        let listener = try TCPListener(loop: loop, address: loopback)
        let port = listener.address.port
        listener.close()
        return port
    }
}

/// An egress proxy that records each request head and answers it with fixed
/// bytes (or, with nil, never answers), keeping the connection open.
final class ScriptedProxy {
    private let listener: TCPListener
    private let loop: EventLoop
    private var connections: [UVStream] = []
    private(set) var requests: [String] = []
    var onRequest: (() -> Void)?
    var address: SocketAddress { listener.address }

    init(loop: EventLoop, address: SocketAddress, answer: String?) throws {
        self.loop = loop
        listener = try TCPListener(loop: loop, address: address)
        listener.start { [unowned self] stream in
            connections.append(stream)
            var head: [UInt8] = []
            stream.onRead = { [unowned self, unowned stream] event in
                guard case .data(let buffer) = event else { return stream.close() }
                head += buffer.bytes
                loop.buffers.give(buffer)
                guard head.count >= 4, Array(head.suffix(4)) == Array("\r\n\r\n".utf8) else { return }
                requests.append(String(decoding: head, as: UTF8.self))
                head = []
                if let answer { stream.write(loop.buffers.buffers(copying: Array(answer.utf8))) { _ in } }
                onRequest?()
            }
            stream.startReading()
        }
    }

    func close() {
        listener.close()
        for connection in connections { connection.close() }
        connections = []
    }
}
