import Foundation
import XCTest

/// A route that a SIGHUP reload adds while uvtunnel is at its descriptor
/// limit cannot get a socket to listen on. uvtunnel must say so in one line
/// naming that route's address, keep every running route and open tunnel
/// byte-exact, and stay up (a listener whose failed init was closed anyway
/// corrupted the loop's handle list).
final class ReloadAtDescriptorLimitTests: XCTestCase {
    func testRouteAddedBySIGHUPAtTheDescriptorLimitFailsInOneLineAndTheRestServes() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let dir = TemporaryDirectory()
        let token = try writeTokenFile(gateway, in: dir)
        let portA = try freeLoopbackPort()
        let file = dir.path + "/uvtunnel.toml"
        try routesConfig(gateway, token: token, [(portA, target.port)]).write(toFile: file, atomically: true, encoding: .utf8)
        // exec keeps the PID, so /proc/PID is uvtunnel's own.
        let process = try ChildProcess("/bin/sh", ["-c", "ulimit -n 48 && exec \"$0\" \"$@\"", Products.tunnel, "--config", file])
        process.waitForOutput { $0.contains("listening on 127.0.0.1:\(portA)") }
        let stats = ProcessStats(pid: process.process.processIdentifier)
        let limit = try openFilesLimit(pid: process.process.processIdentifier)
        XCTAssertEqual(limit, 48)

        // Hold tunnels on A (two descriptors each) until one or two are free:
        // enough for the reload to read its files, too few for every new route.
        var held: [TestSocket] = []
        let pid = process.process.processIdentifier
        var free = freeDescriptors(pid: pid, limit: limit, stats: stats)
        while free > 2 {
            let socket = try TestSocket.connect(port: portA)
            try socket.send([UInt8(truncatingIfNeeded: held.count)])
            XCTAssertEqual(try socket.receive(exactly: 1), [UInt8(truncatingIfNeeded: held.count)], "tunnel \(held.count) open")
            held.append(socket)
            free = freeDescriptors(pid: pid, limit: limit, stats: stats)
        }
        XCTAssertGreaterThanOrEqual(free, 1)
        XCTAssertGreaterThanOrEqual(held.count, 5, "the limit was reached by holding tunnels")

        // `free` new routes take the last descriptors; the one after finds none.
        var added: [UInt16] = []
        for _ in 0...free { added.append(try freeLoopbackPort()) }
        let refused = added.last!
        try routesConfig(gateway, token: token, [(portA, target.port)] + added.map { ($0, target.port) })
            .write(toFile: file, atomically: true, encoding: .utf8)
        process.signal(SIGHUP)
        process.waitForOutput { $0.contains("reloaded \(file): \(1 + free) route(s)") }
        let lines = process.stderr.split(separator: "\n")
        let failures = lines.filter { $0.contains("too many open files") }
        XCTAssertEqual(failures.count, 1, "one line, for the route that could not listen:\n\(process.stderr)")
        XCTAssertTrue(failures.first?.contains("cannot listen on 127.0.0.1:\(refused): too many open files") ?? false,
                      failures.first.map(String.init) ?? "")
        print("at the descriptor limit (\(limit), \(held.count) tunnels held, \(free) free), reload added \(added.count) routes: \(failures.first ?? "")")
        XCTAssertFalse(lines.contains { $0.contains("listening on 127.0.0.1:\(refused),") })
        for port in added.dropLast() {
            XCTAssertTrue(lines.contains { $0.contains("listening on 127.0.0.1:\(port),") }, "route on \(port) listens")
        }
        XCTAssertTrue(process.process.isRunning, "uvtunnel is still up")

        // The tunnels already open carry on, byte-exact.
        let payload = randomBytes(64 * 1024)
        for socket in held.prefix(3) {
            try socket.send(payload)
            XCTAssert(try socket.receive(exactly: payload.count) == payload, "an open tunnel after the reload")
        }

        // Descriptors back once uvtunnel has closed every held tunnel (one line each).
        let closedBefore = process.stderr.components(separatedBy: "disconnected").count - 1
        let heldCount = held.count
        held = []
        process.waitForOutput { $0.components(separatedBy: "disconnected").count - 1 >= closedBefore + heldCount }
        for port in [portA, added[0]] {
            let fresh = randomBytes(100_000)
            XCTAssert(try echoRoundTrip(port: port, payload: fresh) == fresh, "route on \(port) after the limit")
        }
        XCTAssertTrue(process.process.isRunning, "uvtunnel is still up")
        process.signal(SIGTERM)
        XCTAssertEqual(process.waitForExit(timeout: 15), 0, process.stderr)
    }

    /// Descriptor numbers below `limit` not in use, once the count has settled.
    /// Not simply limit minus the count: a descriptor the test's launcher let
    /// through above the limit (Foundation's Process sometimes does) takes no slot.
    private func freeDescriptors(pid: Int32, limit: Int, stats: ProcessStats) -> Int {
        _ = stats.settledDescriptorCount()
        let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).compactMap { Int($0) }
        return limit - open.filter { $0 < limit }.count
    }

    /// The soft "Max open files" limit of a running process.
    private func openFilesLimit(pid: Int32) throws -> Int {
        let text = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let fields = line.dropFirst("Max open files".count).split(separator: " ")
        return try XCTUnwrap(Int(fields.first ?? ""))
    }
}
