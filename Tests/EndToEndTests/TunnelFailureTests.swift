import Foundation
import XCTest

/// Every refusal closes the local connection promptly, says why in one log
/// line, and leaves the listener serving.
final class TunnelFailureTests: XCTestCase {
    func testWrongCAIsRefusedWithAClearLine() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let other = try GatewayFixture()  // its CA did not sign `gateway`'s certificate
        let tunnel = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--alternate-ca-path", other.caPath,
                                        "--service-account", try gateway.token(), "127.0.0.1:\(target.port)"])
        let socket = try TestSocket.connect(port: tunnel.port)
        XCTAssertTrue(socket.waitForClose(timeout: 10))
        tunnel.process.waitForOutput { $0.contains("certificate verify failed") && $0.contains("--alternate-ca-path") }
        XCTAssertEqual(target.acceptedCount, 0)
    }

    func testDisableTLSVerificationConnectsWithoutTheCA() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--disable-tls-verification",
                                        "--service-account", try gateway.token(), "127.0.0.1:\(target.port)"])
        let payload = randomBytes(50_000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload)
        XCTAssertTrue(tunnel.process.stderr.contains("TLS verification is off"))
    }

    func testGatewayDownClosesPromptlyAndListenerKeepsServing() throws {
        let target = try TargetServer(.echo)
        // A gateway that has been up (so its CA exists) and is now down.
        let down = try GatewayFixture(["--allow-anonymous"])
        down.process.stop()
        let tunnel = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(down.port)", "--alternate-ca-path", down.caPath,
                                        "--connect-timeout", "30", "127.0.0.1:\(target.port)"])
        let started = Date()
        let socket = try TestSocket.connect(port: tunnel.port)
        XCTAssertTrue(socket.waitForClose(timeout: 5))
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "closed promptly, not after --connect-timeout")
        tunnel.process.waitForOutput { $0.contains("cannot reach gateway") && $0.contains("connection refused") }

        // Now the gateway comes up on that port: the same listener carries the next connection.
        let gateway = try ChildProcess(Products.gateway, ["--state-dir", down.state.path, "--allow-anonymous",
                                                          "--listen", "127.0.0.1:\(down.port)"])
        defer { gateway.stop() }
        gateway.waitForOutput { $0.contains("listening on") }
        let payload = randomBytes(10_000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload)
    }

    func testForbiddenDestinationIs403AndReported() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--allow", "127.0.0.1:1"])
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()))
        for attempt in 1...2 {
            let socket = try TestSocket.connect(port: tunnel.port)
            XCTAssertTrue(socket.waitForClose(timeout: 10), "attempt \(attempt)")
        }
        tunnel.process.waitForOutput { $0.components(separatedBy: "403 access denied by gateway policy").count == 3 }
        XCTAssertEqual(target.acceptedCount, 0)
    }

    func testStatuses404And503AreReportedAndKeepTheToken() throws {
        for (status, words) in [(404, "404 route not found"), (503, "503")] {
            let gateway = try GatewayFixture(["--answer-status", String(status)])
            let cache = TemporaryDirectory()
            let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: 9, token: try gateway.token()),
                                           environment: ["XDG_CACHE_HOME": cache.path])
            let socket = try TestSocket.connect(port: tunnel.port)
            XCTAssertTrue(socket.waitForClose(timeout: 10))
            tunnel.process.waitForOutput { $0.contains(words) }
            XCTAssertTrue(tunnel.process.process.isRunning, "the listener stays up after \(status)")
        }
    }

    func testMissingTokenIs302SignInRequired() throws {
        let gateway = try GatewayFixture()
        let cache = TemporaryDirectory()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: 9, token: nil)
                                       + ["--no-browser", "--auth-timeout", "1"],
                                       environment: ["XDG_CACHE_HOME": cache.path])
        let socket = try TestSocket.connect(port: tunnel.port)
        XCTAssertTrue(socket.waitForClose(timeout: 10))
        // 302 → one sign-in, whose URL is printed; nobody completes it here.
        tunnel.process.waitForOutput { $0.contains("302 sign-in required") && $0.contains("Open this URL in a browser to sign in")
            && $0.contains("did not finish within 1.0s (raise --auth-timeout") }
    }

    func testExpiredTokenIs401() throws {
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: 9, token: try gateway.token(ttl: -60)))
        let socket = try TestSocket.connect(port: tunnel.port)
        XCTAssertTrue(socket.waitForClose(timeout: 10))
        tunnel.process.waitForOutput { $0.contains("401") && $0.contains("rejected the service account token") }
    }

    func testConnectTimeoutBoundsAGatewayThatNeverAnswers() throws {
        // A listener that accepts (kernel backlog) but never speaks TLS.
        let silent = try SilentListener()
        let tunnel = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(silent.port)", "--connect-timeout", "1",
                                        "--disable-tls-verification", "127.0.0.1:9"])
        let socket = try TestSocket.connect(port: tunnel.port)
        XCTAssertTrue(socket.waitForClose(timeout: 10))
        tunnel.process.waitForOutput { $0.contains("timed out after 1.0s") && $0.contains("--connect-timeout") }
    }

    func testMutualTLSClientCertificate() throws {
        let target = try TargetServer(.echo)
        let client = TemporaryDirectory()
        // A client identity made by the gateway tool itself (its own state dir).
        let identity = try GatewayFixture()
        identity.process.stop()
        let clientCert = identity.state.path + "/tls-cert.pem", clientKey = identity.state.path + "/tls-key.pem"
        let gateway = try GatewayFixture(["--client-ca", clientCert])
        let token = try gateway.token()
        let with = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: token)
                                     + ["--client-cert", clientCert, "--client-key", clientKey])
        let payload = randomBytes(20_000)
        XCTAssert(try echoRoundTrip(port: with.port, payload: payload) == payload)

        let without = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: token))
        let socket = try TestSocket.connect(port: without.port)
        XCTAssertTrue(socket.waitForClose(timeout: 10))
        without.process.waitForOutput { $0.contains("failed 127.0.0.1:\(target.port)") }
        _ = client
    }
}

/// Accepts nothing: connections sit in the kernel's backlog, unanswered.
final class SilentListener {
    let port: UInt16
    private let fd: Int32
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw TestError("silent listener: errno \(errno)") }
        port = UInt16(bigEndian: address.sin_port)
    }
    deinit { close(fd) }
}
