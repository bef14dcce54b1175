import Foundation
import XCTest

/// Many routes in one process, exec mode, metrics, JSON logs, tunnel
/// lifetime and policy rechecks, systemd socket activation.
final class GatewayHostFeatureTests: XCTestCase {
    func testConfigFileServesManyRoutesAndSIGHUPReloads() throws {
        let targetA = try TargetServer(.echo), targetB = try TargetServer(.echo), targetC = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let dir = TemporaryDirectory()
        let token = try writeTokenFile(gateway, in: dir)
        let (portA, portB, portC) = (try freeLoopbackPort(), try freeLoopbackPort(), try freeLoopbackPort())
        let file = dir.path + "/uvtunnel.toml"
        try routesConfig(gateway, token: token, [(portA, targetA.port), (portB, targetB.port)]).write(toFile: file, atomically: true, encoding: .utf8)
        let process = try ChildProcess(Products.tunnel, ["--config", file])
        process.waitForOutput { $0.components(separatedBy: "listening on").count == 3 }
        for port in [portA, portB] {
            let payload = randomBytes(50_000)
            XCTAssert(try echoRoundTrip(port: port, payload: payload) == payload, "route on \(port)")
        }
        // A tunnel on A stays open across the reload that removes A.
        let held = try TestSocket.connect(port: portA)
        try held.send([1, 2, 3])
        XCTAssertEqual(try held.receive(exactly: 3), [1, 2, 3])

        try routesConfig(gateway, token: token, [(portB, targetB.port), (portC, targetC.port)]).write(toFile: file, atomically: true, encoding: .utf8)
        process.signal(SIGHUP)
        process.waitForOutput { $0.contains("reloaded \(file): 2 route(s)") }
        XCTAssertThrowsError(try TestSocket.connect(port: portA), "A no longer accepts")
        try held.send([4, 5])
        XCTAssertEqual(try held.receive(exactly: 2), [4, 5], "the open tunnel on A keeps running")
        for port in [portB, portC] {
            let payload = randomBytes(20_000)
            XCTAssert(try echoRoundTrip(port: port, payload: payload) == payload, "route on \(port) after reload")
        }

        // A broken file is refused with its line; B and C keep serving.
        try "[[tunnel]]\nlisten = \"127.0.0.1:1\"\nroute = db.example:5432\n".write(toFile: file, atomically: true, encoding: .utf8)
        process.signal(SIGHUP)
        process.waitForOutput { $0.contains("reload rejected") && $0.contains("line 3") }
        let payload = randomBytes(1000)
        XCTAssert(try echoRoundTrip(port: portC, payload: payload) == payload)
        XCTAssertTrue(process.process.isRunning)
    }

    func testBadConfigFileIsAUsageErrorNamingTheLine() throws {
        let dir = TemporaryDirectory()
        let file = dir.path + "/bad.toml"
        try "[[tunnel]]\nlisten = \"127.0.0.1:0\"\nroute = \"db:5432\"\nconect-timeout = 3\n".write(toFile: file, atomically: true, encoding: .utf8)
        let process = try ChildProcess(Products.tunnel, ["--config", file])
        XCTAssertEqual(process.waitForExit(), 2)
        XCTAssertTrue(process.stderr.contains("line 4: unknown key \"conect-timeout\""), process.stderr)
    }

    func testExecRunsTheClientThroughTheTunnelAndReturnsItsStatus() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let dir = TemporaryDirectory()
        let token = try writeTokenFile(gateway, in: dir)
        let client = """
        import os, socket, sys
        host, port = sys.argv[1].rsplit(":", 1)
        assert os.environ["UVTUNNEL_ADDR"] == sys.argv[1] and os.environ["UVTUNNEL_PORT"] == port
        s = socket.create_connection((host, int(port))); s.sendall(b"through exec"); s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(100): data += chunk
        sys.exit(7 if data == b"through exec" else 1)
        """
        let process = try ChildProcess(Products.tunnel, ["exec", "--pomerium-url", "https://127.0.0.1:\(gateway.port)",
                                                         "--alternate-ca-path", gateway.caPath, "--service-account-file", token,
                                                         "127.0.0.1:\(target.port)", "--", "python3", "-c", client, "{}"])
        XCTAssertEqual(process.waitForExit(timeout: 30), 7, process.stderr)
        XCTAssertEqual(target.acceptedCount, 1)
    }

    func testMetricsEndpointCountsTunnelsBytesAndSetup() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let metricsPort = try freeLoopbackPort()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
                                       + ["--metrics-addr", "127.0.0.1:\(metricsPort)"])
        let payload = randomBytes(12_345)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload)
        tunnel.process.waitForOutput { $0.contains("disconnected") }
        let scrape = try TestSocket.connect(port: metricsPort)
        try scrape.send(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let text = String(decoding: try scrape.receiveAll(), as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200"), text)
        for line in ["uvtunnel_tunnels_total{outcome=\"completed\"} 1", "uvtunnel_bytes_total{direction=\"up\"} 12345",
                     "uvtunnel_bytes_total{direction=\"down\"} 12345", "uvtunnel_setup_seconds_count 1", "uvtunnel_tunnels_open 0",
                     "uvtunnel_sign_ins_total 0"] {
            XCTAssertTrue(text.contains(line), "missing \(line) in\n\(text)")
        }
    }

    func testJSONLogLinesCarryTheEvents() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
                                       + ["--log-format", "json"])
        let payload = randomBytes(100)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload)
        tunnel.process.waitForOutput { $0.contains("\"event\":\"disconnected\"") }
        var events: [String] = []
        for line in tunnel.process.stderr.split(separator: "\n") {
            XCTAssertTrue(line.hasPrefix("{"), "every line on stderr is JSON, the start line included: \(line)")
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], String(line))
            if let event = object["event"] { events.append(event) }
            XCTAssertNotNil(object["level"])
            if let event = object["event"], ["connecting", "connected", "disconnected"].contains(event) {
                XCTAssertEqual(object["tunnel"], "1", "a tunnel's lines name it: \(line)")
            }
        }
        XCTAssertEqual(events.first, "listening", "the start line is an object with its event too")
        XCTAssertEqual(events.filter { ["connecting", "connected", "disconnected"].contains($0) }, ["connecting", "connected", "disconnected"])
        let disconnected = tunnel.process.stderr.split(separator: "\n").first { $0.contains("\"event\":\"disconnected\"") }
        XCTAssertEqual(disconnected.map { $0.contains("\"level\":\"info\"") }, true, "a clean close is info, not error")
    }

    /// An error that ends the process after the flags were read is a JSON line too.
    func testJSONLogsEndWithAJSONErrorLine() throws {
        let gateway = try GatewayFixture()
        let first = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: 9, token: nil))
        let second = try ChildProcess(Products.tunnel, ["--listen", "127.0.0.1:\(first.port)", "--log-format", "json"]
                                      + TunnelFixture.arguments(gateway: gateway, targetPort: 9, token: nil))
        XCTAssertEqual(second.waitForExit(), 1, second.stderr)
        let lines = second.stderr.split(separator: "\n")
        XCTAssertFalse(lines.isEmpty)
        for line in lines {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], String(line))
            XCTAssertNotNil(object["msg"])
        }
        let last = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: String])
        XCTAssertEqual(last["level"], "error")
        XCTAssertEqual(last["event"], "error")
        XCTAssertTrue(last["msg"]?.contains("cannot listen on 127.0.0.1:\(first.port)") == true, "\(last)")
    }

    func testMaxTunnelLifetimeClosesIdleTunnels() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
                                       + ["--max-tunnel-lifetime", "1000ms"])  // a duration with units, as Pomerium writes them
        let socket = try TestSocket.connect(port: tunnel.port)
        try socket.send([9])
        XCTAssertEqual(try socket.receive(exactly: 1), [9])
        let start = Date()
        XCTAssertTrue(socket.waitForClose(timeout: 10))
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        tunnel.process.waitForOutput { $0.contains("closed after 1.0s, its maximum lifetime (--max-tunnel-lifetime)") }
    }

    func testRecheckClosesTunnelsWhenThePolicyNoLongerAdmitsThem() throws {
        try checkRecheckClosesTunnelsWhenThePolicyChanges()
    }

    func testSystemdSocketActivation() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let dir = TemporaryDirectory()
        let token = try writeTokenFile(gateway, in: dir)
        // Stand in for systemd: bind, pass the socket as fd 3, set LISTEN_PID/LISTEN_FDS, exec.
        let launcher = """
        import os, socket, sys
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
        print(s.getsockname()[1], flush=True)
        os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
        os.environ["LISTEN_FDS"] = "1"; os.environ["LISTEN_PID"] = str(os.getpid())
        os.execv(sys.argv[1], sys.argv[1:])
        """
        let process = try ChildProcess("/usr/bin/env", ["python3", "-c", launcher, Products.tunnel,
                                                        "--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--alternate-ca-path", gateway.caPath,
                                                        "--service-account-file", token, "127.0.0.1:\(target.port)"])
        process.waitForOutput { $0.contains("socket activation: serving fd 3") }
        let port = try XCTUnwrap(UInt16(process.stdout.split(separator: "\n").first ?? ""))
        let payload = randomBytes(10_000)
        XCTAssert(try echoRoundTrip(port: port, payload: payload) == payload, process.stderr)
    }

    func testVersionAndCompletionScript() throws {
        let version = try ChildProcess(Products.tunnel, ["--version"])
        XCTAssertEqual(version.waitForExit(), 0)
        XCTAssertFalse(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        let completion = try ChildProcess(Products.tunnel, ["--generate-completion-script", "bash"])
        XCTAssertEqual(completion.waitForExit(), 0)
        XCTAssertTrue(completion.stdout.contains("--pomerium-url"), completion.stdout)
    }
}
