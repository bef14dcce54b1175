import Foundation
import XCTest

/// One uvtunnel process serving two routes from a `--config` file: a healthy
/// one (bundled gateway → echo target) and a faulty one (a hostile gateway, or
/// the bundled gateway in front of a hostile target). `exercise` runs a fault
/// on the faulty route and checks everything the fault matrix promises: the
/// expected line, the healthy route flowing byte-exact throughout, the process
/// up, RSS bounded, descriptors back to where they were.
final class FaultRig {
    let target: TargetServer
    let gateway: GatewayFixture
    let dir = TemporaryDirectory()
    private(set) var tunnel: ChildProcess!
    private(set) var healthyPort: UInt16 = 0
    private(set) var faultyPort: UInt16 = 0
    var stats: ProcessStats { ProcessStats(pid: tunnel.process.processIdentifier) }
    /// Peers that must live as long as the rig (a hostile gateway behind the faulty route).
    private var kept: [AnyObject] = []

    func keep(_ peer: AnyObject) { kept.append(peer) }

    /// How much uvtunnel's RSS may grow during one case. Generous next to what a
    /// leak or a missing backpressure costs (the cases push up to 200 MiB), tight
    /// next to that: the buffer pool alone may cache 256 × 64 KiB = 16 MiB.
    static let rssAllowanceKiB = 20 * 1024

    init(target behaviour: TargetServer.Behaviour = .echo) throws {
        target = try TargetServer(behaviour)
        gateway = try GatewayFixture()
    }

    /// Where the faulty route goes.
    struct Faulty {
        /// nil: the healthy bundled gateway.
        var gatewayPort: UInt16?
        var destination = "127.0.0.1:9"
        /// No service account: the route signs in (with --no-browser).
        var signIn = false
    }

    /// Starts uvtunnel; `descriptorLimit` runs it under `ulimit -n`.
    func start(_ faulty: Faulty, descriptorLimit: Int? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let token = dir.path + "/token"
        try writeFile(token, gateway.token())
        (healthyPort, faultyPort) = (try freeLoopbackPort(), try freeLoopbackPort())
        let config = dir.path + "/uvtunnel.toml"
        try """
        alternate-ca-path = "\(gateway.caPath)"
        connect-timeout = 2
        drain-timeout = 1

        [[tunnel]]
        listen = "127.0.0.1:\(healthyPort)"
        route = "127.0.0.1:\(target.port)"
        pomerium-url = "https://127.0.0.1:\(gateway.port)"
        service-account-file = "\(token)"

        [[tunnel]]
        listen = "127.0.0.1:\(faultyPort)"
        route = "\(faulty.destination)"
        pomerium-url = "https://127.0.0.1:\(faulty.gatewayPort ?? gateway.port)"
        \(faulty.signIn ? "no-browser = true\nauth-timeout = 60" : "service-account-file = \"\(token)\"")

        """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["XDG_CACHE_HOME": dir.path + "/cache"]
        if let limit = descriptorLimit {
            // exec keeps the PID, so /proc/PID is uvtunnel's own.
            tunnel = try ChildProcess("/bin/sh", ["-c", "ulimit -n \(limit) && exec \"$0\" \"$@\"", Products.tunnel, "--config", config],
                                      environment: environment)
        } else {
            tunnel = try ChildProcess(Products.tunnel, ["--config", config], environment: environment)
        }
        tunnel.waitForOutput(file: file, line: line) { $0.components(separatedBy: "listening on").count == 3 }
    }

    /// True when some line of uvtunnel's log holds every fragment.
    func logHasLine(_ fragments: [String]) -> Bool {
        tunnel.stderr.split(separator: "\n").contains { line in fragments.allSatisfy { line.contains($0) } }
    }

    func waitForLine(_ fragments: [String], timeout: TimeInterval = 30, file: StaticString = #filePath, line: UInt = #line) {
        tunnel.waitForOutput(timeout: timeout, file: file, line: line) { [self] _ in logHasLine(fragments) }
    }

    /// Runs one fault case. `warmUp` runs before the baseline is taken (for
    /// what a process allocates once, on first use); `fault` provokes the case;
    /// `release` ends whatever the fault left open that only its peer can end
    /// (e.g. stops a peer that never reads); then every promise is checked.
    func exercise(expecting fragments: [String], timeout: TimeInterval = 30,
                  file: StaticString = #filePath, line: UInt = #line,
                  warmUp: () throws -> Void = {},
                  fault: () throws -> Void, release: () -> Void = {}) throws {
        try warmUp()
        // Baseline after one healthy tunnel has come and gone: the buffer pool
        // and allocator are warm, and the descriptor count is the idle one.
        let warm = randomBytes(100_000)
        XCTAssert(try echoRoundTrip(port: healthyPort, payload: warm) == warm, "healthy route before the fault", file: file, line: line)
        let stats = self.stats
        let baselineDescriptors = stats.settledDescriptorCount()
        let baselineTargets = stats.descriptorTargets
        let baselineKiB = stats.residentKiB

        let sampler = RSSSampler(stats)
        let healthy = try HealthyTraffic(port: healthyPort)
        XCTAssertTrue(healthy.flows(), "healthy route flows before the fault", file: file, line: line)

        try fault()
        waitForLine(fragments, timeout: timeout, file: file, line: line)
        XCTAssertTrue(healthy.flows(), "healthy route still flows after the fault", file: file, line: line)
        XCTAssertTrue(tunnel.process.isRunning, "uvtunnel is still up", file: file, line: line)

        release()
        let healthyBytes = healthy.bytes
        XCTAssertNil(healthy.stop(), file: file, line: line)
        let fresh = randomBytes(50_000)
        XCTAssert(try echoRoundTrip(port: healthyPort, payload: fresh) == fresh, "a new healthy tunnel after the fault", file: file, line: line)

        let peakKiB = sampler.stop()
        // Under a sanitizer (Tests/sanitize) RSS holds its shadow memory and its
        // quarantine of freed blocks (ASan keeps up to 256 MiB): the bound is
        // checked by the plain run only; descriptors are checked in both.
        if !stats.isSanitized {
            XCTAssertLessThan(peakKiB - baselineKiB, Self.rssAllowanceKiB,
                              "RSS grew from \(baselineKiB) KiB to \(peakKiB) KiB", file: file, line: line)
        }
        let after = stats.waitForDescriptors(baselineDescriptors)
        // One summary line per case, for the matrix in the report.
        print("fault case \(fragments.joined(separator: " … ")): descriptors \(baselineDescriptors) → \(after), "
              + "RSS \(baselineKiB) KiB, peak +\(peakKiB - baselineKiB) KiB, healthy route echoed \(healthyBytes) bytes during the case")
        XCTAssertEqual(after, baselineDescriptors,
                       "descriptors did not return to the baseline; now \(stats.descriptorTargets), before \(baselineTargets)",
                       file: file, line: line)
    }

    deinit { tunnel?.stop() }
}

/// Samples a process's RSS every 50 ms on its own thread; `stop` returns the peak.
final class RSSSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(_ stats: ProcessStats) {
        peak = stats.residentKiB
        Thread { [self] in
            while lock.withLock({ running }) {
                let now = stats.residentKiB
                lock.withLock { peak = max(peak, now) }
                Thread.sleep(forTimeInterval: 0.05)
            }
            done.signal()
        }.start()
    }

    var peakKiB: Int { lock.withLock { peak } }

    func stop() -> Int {
        lock.withLock { running = false }
        done.wait()
        return peakKiB
    }
}
