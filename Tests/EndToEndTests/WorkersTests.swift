import Foundation
import XCTest

/// `--workers N`: N single-loop processes share each listening port with
/// SO_REUSEPORT; the parent forwards signals and restarts a worker that dies.
final class WorkersTests: XCTestCase {
    private func workers(of parent: ChildProcess, count: Int, timeout: TimeInterval = 10) -> [Int32] {
        let deadline = Date().addingTimeInterval(timeout)
        var found: [Int32] = []
        while Date() < deadline {
            found = childPIDs(of: parent.process.processIdentifier)
            if found.count == count { return found }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("expected \(count) workers, found \(found)")
        return found
    }

    private func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    private func waitUntilGone(_ pids: [Int32], timeout: TimeInterval = 15) -> [Int32] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, pids.contains(where: isAlive) { Thread.sleep(forTimeInterval: 0.05) }
        return pids.filter(isAlive)
    }

    func testTwoWorkersShareOnePortAndEveryTunnelIsByteExact() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(["--workers", "2"] + TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()))
        XCTAssertTrue(tunnel.process.stderr.contains("(2 workers)"), tunnel.process.stderr)
        let pids = workers(of: tunnel.process, count: 2)
        let failures = try parallelEchoFailures(port: tunnel.port, count: 200)
        XCTAssertEqual(failures, [])
        XCTAssertEqual(target.acceptedCount, 200)
        // The kernel spread the connections: both workers carried some.
        for index in 0..<2 {
            tunnel.process.waitForOutput { $0.contains("worker=\(index) [UVTunnel] disconnected") }
        }
        XCTAssertEqual(tunnel.process.stderr.components(separatedBy: "listening on").count - 1, 1, "one announcement, by the parent")

        tunnel.process.signal(SIGTERM)
        XCTAssertEqual(tunnel.process.waitForExit(), 0, tunnel.process.stderr)
        XCTAssertEqual(waitUntilGone(pids), [], "workers outlived the parent")
        XCTAssertThrowsError(try TestSocket.connect(port: tunnel.port, timeout: 2), "the port still accepts after shutdown")
    }

    func testAWorkerThatDiesIsStartedAgainAndThePortKeepsWorking() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(["--workers", "2"] + TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()))
        let pids = workers(of: tunnel.process, count: 2)
        // Past the start-up window, in which a death means "could not start" and stops everything.
        Thread.sleep(forTimeInterval: 2.5)
        kill(pids[0], SIGKILL)
        tunnel.process.waitForOutput { $0.contains("was killed by signal 9; starting it again") }
        let replaced = workers(of: tunnel.process, count: 2)
        XCTAssertFalse(replaced.contains(pids[0]))
        XCTAssertTrue(replaced.contains(pids[1]))
        // Ready once it says so a second time (the first was before the kill).
        tunnel.process.waitForOutput { $0.components(separatedBy: "worker 0: serving").count - 1 == 2 }
        // The new worker serves the same port again (it rebinds it with SO_REUSEPORT):
        // every connection is carried, whichever worker the kernel picks.
        XCTAssertEqual(try parallelEchoFailures(port: tunnel.port, count: 100), [])
        XCTAssertTrue(tunnel.process.stderr.contains("worker=0 [UVTunnel] disconnected"), "no tunnel through the restarted worker")
    }

    func testSIGHUPReloadsEveryWorkerAndARemovedRouteStopsAccepting() throws {
        let targetA = try TargetServer(.echo), targetB = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let dir = TemporaryDirectory()
        let token = try writeTokenFile(gateway, in: dir)
        let (portA, portB) = (try freeLoopbackPort(), try freeLoopbackPort())
        let file = dir.path + "/uvtunnel.toml"
        try routesConfig(gateway, token: token, [(portA, targetA.port)]).write(toFile: file, atomically: true, encoding: .utf8)
        let process = try ChildProcess(Products.tunnel, ["--workers", "2", "--config", file])
        process.waitForOutput { $0.contains("listening on 127.0.0.1:\(portA)") }
        _ = workers(of: process, count: 2)
        XCTAssertEqual(try parallelEchoFailures(port: portA, count: 40), [])

        try routesConfig(gateway, token: token, [(portB, targetB.port)]).write(toFile: file, atomically: true, encoding: .utf8)
        process.signal(SIGHUP)
        for index in 0..<2 {
            process.waitForOutput { $0.contains("worker=\(index) [UVTunnelCLI] reloaded \(file): 1 route(s)") }
        }
        // Nobody holds A's sockets any more (the parent kept no copy): refused, not left hanging.
        XCTAssertThrowsError(try TestSocket.connect(port: portA, timeout: 2), "A still accepts after the reload removed it")
        // Both workers bound B themselves, sharing the port.
        XCTAssertEqual(try parallelEchoFailures(port: portB, count: 40), [])
        XCTAssertEqual(targetB.acceptedCount, 40)
    }

    func testWorkersStopWhenTheParentIsKilled() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(["--workers", "3"] + TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()))
        let pids = workers(of: tunnel.process, count: 3)
        tunnel.process.signal(SIGKILL)
        XCTAssertEqual(waitUntilGone(pids), [], "workers outlived a killed parent")
    }

    func testBadWorkerCountsAreUsageErrors() throws {
        let zero = try ChildProcess(Products.tunnel, ["--workers", "0", "db.example:5432"])
        XCTAssertEqual(zero.waitForExit(), 2)
        XCTAssertTrue(zero.stderr.contains("--workers must be between 1 and 64, got 0"), zero.stderr)
        let stdio = try ChildProcess(Products.tunnel, ["--workers", "2", "--listen", "-", "db.example:5432"])
        XCTAssertEqual(stdio.waitForExit(), 2)
        XCTAssertTrue(stdio.stderr.contains("--workers cannot share --listen -"), stdio.stderr)
    }

    func testAPortInUseFailsOnceBeforeAnyWorkerStarts() throws {
        let holder = try TargetServer(.echo)
        let process = try ChildProcess(Products.tunnel, ["--workers", "2", "--listen", "127.0.0.1:\(holder.port)", "db.example:5432"])
        XCTAssertEqual(process.waitForExit(), 1)
        XCTAssertTrue(process.stderr.contains("cannot listen on 127.0.0.1:\(holder.port)"), process.stderr)
        XCTAssertFalse(process.stderr.contains("worker"), process.stderr)
    }
}

/// The processes whose parent is `pid`, from /proc.
func childPIDs(of pid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.filter { candidate in
        guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        // Fields after "(comm)": state, ppid, ...
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 && Int32(fields[1]) == pid
    }.sorted()
}
