import Foundation
import XCTest

/// SIGINT/SIGTERM: tunnels that have not opened close at once, relaying ones
/// drain, a second signal ends the drain, and a pending sign-in never holds
/// the exit up. Times are upper bounds far below the 30 s drain timeout, so a
/// loaded machine cannot make them fail while a regression (waiting for the
/// drain, the browser or the login call) does.
final class ShutdownTests: XCTestCase {
    private let notOpened = "closed at shutdown before the tunnel opened"

    private func occurrences(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// A `--browser-cmd` that never completes: it records its pid and sleeps.
    private func stuckBrowser(in directory: TemporaryDirectory) throws -> (command: String, pidFile: String) {
        let command = directory.path + "/stuck-browser.sh"
        let pidFile = directory.path + "/browser.pid"
        try "#!/bin/sh\necho $$ > '\(pidFile)'\nexec sleep 300\n".write(toFile: command, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: command)
        return (command, pidFile)
    }

    private func browserPID(_ pidFile: String) -> Int32? {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
               let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) { return pid }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return nil
    }

    private func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    func testSIGINTDuringPendingSignInExitsAtOnceAndClosesEachWaitingTunnel() throws {
        let gateway = try GatewayFixture()
        let cache = TemporaryDirectory()
        let browser = try stuckBrowser(in: cache)
        let tunnel = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--alternate-ca-path", gateway.caPath,
                                        "--browser-cmd", browser.command, "--auth-timeout", "120", "--drain-timeout", "30",
                                        "127.0.0.1:9"],
                                       environment: ["XDG_CACHE_HOME": cache.path])
        let sockets = try (0..<3).map { _ in try TestSocket.connect(port: tunnel.port) }
        tunnel.process.waitForOutput { self.occurrences("waiting for sign-in", in: $0) >= 3 }
        let pid = try XCTUnwrap(browserPID(browser.pidFile), "the browser command did not start")
        defer { kill(pid, SIGKILL) }

        let signalled = Date()
        tunnel.process.signal(SIGINT)
        XCTAssertEqual(tunnel.process.waitForExit(timeout: 5), 0, tunnel.process.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 5, "waited for the drain, the browser or the login call")
        XCTAssertEqual(occurrences(notOpened, in: tunnel.process.stderr), 3, tunnel.process.stderr)
        XCTAssertEqual(occurrences("info uvtunnel: tunnel=", in: tunnel.process.stderr.split(separator: "\n")
            .filter { $0.contains(self.notOpened) }.joined(separator: "\n")), 3, "a stop the user asked for is not an error")
        XCTAssertFalse(tunnel.process.stderr.contains("drain timeout"))
        for socket in sockets { XCTAssertTrue(socket.waitForClose(timeout: 5)) }
        // The browser is left running: it may be the user's own.
        XCTAssertTrue(isAlive(pid), "the browser process was killed")
    }

    func testSIGINTWhileTheLoginCallHangsDoesNotWaitForIt() throws {
        // The login endpoint never answers; its own bound is 10 s, so an exit
        // within 5 s shows the call was dropped, not waited for.
        let gateway = try GatewayFixture()
        let peer = try HostilePeer.gateway("login-hang", certificateFrom: gateway)
        let cache = TemporaryDirectory()
        let tunnel = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(peer.port)", "--alternate-ca-path", gateway.caPath,
                                        "--no-browser", "--auth-timeout", "120", "--drain-timeout", "30", "127.0.0.1:9"],
                                       environment: ["XDG_CACHE_HOME": cache.path])
        let socket = try TestSocket.connect(port: tunnel.port)
        tunnel.process.waitForOutput { $0.contains("auth required: signing in to 127.0.0.1:\(peer.port)") }
        let signalled = Date()
        tunnel.process.signal(SIGINT)
        XCTAssertEqual(tunnel.process.waitForExit(timeout: 5), 0, tunnel.process.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 5, "waited for the login call")
        XCTAssertEqual(occurrences(notOpened, in: tunnel.process.stderr), 1, tunnel.process.stderr)
        XCTAssertFalse(tunnel.process.stderr.contains("timed out after 10s"), "the login call ran to its deadline")
        XCTAssertTrue(socket.waitForClose(timeout: 5))
    }

    func testIdleCallbackConnectionAfterTheSignInDoesNotHoldTheExit() throws {
        // Before following the URL, the browser leaves an idle connection on the
        // callback port: after the sign-in it is still open (its own bound is
        // 10 s), and stopping must close it rather than wait.
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve"])
        let cache = TemporaryDirectory()
        let ready = cache.path + "/idle.ready"
        let pidFile = cache.path + "/idle.pid"
        let idle = """
        port=$(echo "$1" | sed -E 's/.*127.0.0.1%3A([0-9]+).*/\\1/')
        python3 -c 'import socket, sys, time
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        open(sys.argv[2], "w").write("ok")
        time.sleep(60)' "$port" '\(ready)' >/dev/null 2>&1 </dev/null &
        echo $! > '\(pidFile)'
        while [ ! -s '\(ready)' ]; do sleep 0.05; done
        """
        let browser = try ScriptedBrowser(in: cache, before: idle)
        let tunnel = try TunnelFixture(signInArguments(gateway, browser, targetPort: target.port) + ["--drain-timeout", "30"],
                                       environment: ["XDG_CACHE_HOME": cache.path])
        let payload = randomBytes(3000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, tunnel.process.stderr)
        let pid = try XCTUnwrap(browserPID(pidFile), "the idle connection was not made")
        defer { kill(pid, SIGKILL) }
        let signalled = Date()
        tunnel.process.signal(SIGINT)
        XCTAssertEqual(tunnel.process.waitForExit(timeout: 5), 0, tunnel.process.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 5, "waited for the idle callback connection")
    }

    func testSIGTERMClosesWaitingTunnelAtOnceWhileRelayingOneDrains() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let dir = TemporaryDirectory()
        let token = try writeTokenFile(gateway, in: dir)
        let browser = try stuckBrowser(in: dir)
        let (relayPort, waitPort) = (try freeLoopbackPort(), try freeLoopbackPort())
        let file = dir.path + "/uvtunnel.toml"
        try """
        pomerium-url = "https://127.0.0.1:\(gateway.port)"
        alternate-ca-path = "\(gateway.caPath)"
        drain-timeout = 30

        [[tunnel]]
        listen = "127.0.0.1:\(relayPort)"
        route = "127.0.0.1:\(target.port)"
        service-account-file = "\(token)"

        [[tunnel]]
        listen = "127.0.0.1:\(waitPort)"
        route = "127.0.0.1:\(target.port)"
        browser-cmd = "\(browser.command)"
        auth-timeout = 120
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let process = try ChildProcess(Products.tunnel, ["--config", file], environment: ["XDG_CACHE_HOME": dir.path])
        process.waitForOutput { $0.components(separatedBy: "listening on").count == 3 }

        let relaying = try TestSocket.connect(port: relayPort)
        try relaying.send([1, 2, 3])
        XCTAssertEqual(try relaying.receive(exactly: 3), [1, 2, 3])
        let waiting = try TestSocket.connect(port: waitPort)
        process.waitForOutput { $0.contains("waiting for sign-in") }
        let pid = try XCTUnwrap(browserPID(browser.pidFile), "the browser command did not start")
        defer { kill(pid, SIGKILL) }

        process.signal(SIGTERM)
        process.waitForOutput(timeout: 5) { $0.contains(self.notOpened) }
        XCTAssertTrue(waiting.waitForClose(timeout: 5), "the waiting tunnel stayed open")
        XCTAssertEqual(occurrences(notOpened, in: process.stderr), 1, process.stderr)

        // The relaying tunnel keeps carrying bytes, exactly, until it ends.
        let payload = randomBytes(2_000_000)
        let writer = Thread {
            try? relaying.send(payload)
            relaying.shutdownWrite()
        }
        writer.start()
        XCTAssert(try relaying.receiveAll() == payload, "the relaying tunnel lost bytes during the drain")
        let ended = Date()
        XCTAssertEqual(process.waitForExit(timeout: 5), 0, process.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(ended), 5, "the process waited past its last tunnel")
        XCTAssertFalse(process.stderr.contains("drain timeout"))
    }

    func testSecondSIGTERMDuringDrainExitsAtOnce() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
                                       + ["--drain-timeout", "30"])
        let open = try TestSocket.connect(port: tunnel.port)
        try open.send([1, 2, 3])
        XCTAssertEqual(try open.receive(exactly: 3), [1, 2, 3])
        tunnel.process.signal(SIGTERM)
        tunnel.process.waitForOutput { $0.contains("stopped accepting") }
        // Still draining: the tunnel carries bytes.
        try open.send([4, 5])
        XCTAssertEqual(try open.receive(exactly: 2), [4, 5])
        XCTAssertTrue(tunnel.process.process.isRunning)

        let second = Date()
        tunnel.process.signal(SIGTERM)
        XCTAssertEqual(tunnel.process.waitForExit(timeout: 5), 0, tunnel.process.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(second), 5)
        XCTAssertTrue(open.waitForClose(timeout: 5))
        XCTAssertTrue(tunnel.process.stderr.contains("again: closing 1 tunnel(s) now"), tunnel.process.stderr)
    }
}
