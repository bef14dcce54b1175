import Foundation
import XCTest

/// Several processes needing the same sign-in at once (`--workers`, or many
/// `uvtunnel exec` started together) open one browser between them: the
/// holder of the sign-in lock signs in, the others take the token it stores.
final class SharedSignInTests: XCTestCase {
    private func logins(_ gateway: GatewayFixture) -> Int {
        gateway.process.stderr.components(separatedBy: "answered 200: login request").count - 1
    }

    func testWorkersWithAnEmptyCacheOpenOneBrowser() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve"])
        let cache = TemporaryDirectory()
        // The browser takes a second, so every worker needs the sign-in while it runs.
        let browser = try ScriptedBrowser(in: cache, before: "sleep 1")
        let tunnel = try TunnelFixture(["--workers", "3"] + signInArguments(gateway, browser, targetPort: target.port),
                                       environment: ["XDG_CACHE_HOME": cache.path])
        let failures = try parallelEchoFailures(port: tunnel.port, count: 60, size: { 10_000 + $0 })
        XCTAssertEqual(failures, [], tunnel.process.stderr)
        XCTAssertEqual(browser.starts, 1, "one browser for all workers")
        XCTAssertEqual(logins(gateway), 1, "one login request")
        let waited = tunnel.process.stderr.components(separatedBy: "(token stored by another process)").count - 1
        XCTAssertGreaterThanOrEqual(waited, 1, "no worker took the token another stored: \(tunnel.process.stderr)")
    }

    func testSeparateProcessesStartedTogetherOpenOneBrowser() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve"])
        let cache = TemporaryDirectory()
        let browser = try ScriptedBrowser(in: cache, before: "sleep 1")
        let tunnels = try (0..<4).map { _ in
            try TunnelFixture(signInArguments(gateway, browser, targetPort: target.port), environment: ["XDG_CACHE_HOME": cache.path])
        }
        let results = ResultsBox(count: tunnels.count)
        let group = DispatchGroup()
        for (i, port) in tunnels.map(\.port).enumerated() {
            group.enter()
            Thread {
                let payload = randomBytes(4000 + i)
                let echoed = try? echoRoundTrip(port: port, payload: payload)
                results.set(i, echoed == payload ? nil : "tunnel \(i) failed")
                group.leave()
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(results.failures, [])
        XCTAssertEqual(browser.starts, 1, "one browser for four processes")
        XCTAssertEqual(logins(gateway), 1)
    }

    func testAWaiterTakesOverWhenTheSigningInProcessDies() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture(["--auto-approve"])
        let cache = TemporaryDirectory()
        // The first browser never finishes; its process is killed mid-sign-in.
        // The test ends the browser too: it holds Foundation's exit-watch descriptor
        // of the killed process, which stays unreaped while the browser lives.
        let stuckPID = cache.path + "/stuck.pid"
        let stuck = try ScriptedBrowser(in: cache, before: "echo $$ > '\(stuckPID)'; exec sleep 30")
        let first = try TunnelFixture(signInArguments(gateway, stuck, targetPort: target.port), environment: ["XDG_CACHE_HOME": cache.path])
        let hanging = try TestSocket.connect(port: first.port, timeout: 10)
        try hanging.send([1])
        first.process.waitForOutput { $0.contains("Your browser has been opened") }
        let otherCache = TemporaryDirectory()  // the second browser's own start log
        let browser = try ScriptedBrowser(in: otherCache)
        let second = try TunnelFixture(signInArguments(gateway, browser, targetPort: target.port), environment: ["XDG_CACHE_HOME": cache.path])
        let payload = randomBytes(3000)
        let echoed = Box<[UInt8]?>(nil)
        let done = DispatchSemaphore(value: 0)
        let port = second.port
        Thread {
            echoed.value = try? echoRoundTrip(port: port, payload: payload)
            done.signal()
        }.start()
        second.process.waitForOutput { $0.contains("another uvtunnel process is signing in") }
        XCTAssertEqual(browser.starts, 0, "the second process opened a browser while the first was signing in")
        first.process.signal(SIGKILL)
        if let text = try? String(contentsOfFile: stuckPID, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(echoed.value, payload, second.process.stderr)
        XCTAssertEqual(browser.starts, 1, "the waiter signed in itself once the lock was free")
        _ = hanging
    }
}

/// A value a test thread sets and the test reads after a semaphore.
final class Box<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
