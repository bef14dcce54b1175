import Foundation
import XCTest

/// A tunnel through a gateway whose allow file admits its target, checked
/// with `--recheck-interval 1s`: two rechecks pass and bytes flow; then the
/// policy stops admitting it, the gateway reloads, and the next recheck
/// closes the tunnel with the gateway's 403. Returns the gateway, for checks
/// of how the probes reached it. `extra` adds uvtunnel flags (`--multiplex`).
@discardableResult
func checkRecheckClosesTunnelsWhenThePolicyChanges(extra: [String] = [], file: StaticString = #filePath,
                                                   line: UInt = #line) throws -> GatewayFixture {
    let target = try TargetServer(.echo)
    let dir = TemporaryDirectory()
    let gateway = try allowFileGateway(admitting: "127.0.0.1:\(target.port)", in: dir)
    // debug: each recheck logs its answer, so the test waits for them, not for a time.
    let tunnel = try TunnelFixture(extra + TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
                                   + ["--recheck-interval", "1s"], environment: ["LOG_LEVEL": "debug"])
    let socket = try TestSocket.connect(port: tunnel.port, timeout: 30)
    try socket.send([1])
    XCTAssertEqual(try socket.receive(exactly: 1), [1], file: file, line: line)
    // Two rechecks pass while the policy admits us.
    tunnel.process.waitForOutput(file: file, line: line) { $0.components(separatedBy: "recheck probe: success").count > 2 }
    try socket.send([2])
    XCTAssertEqual(try socket.receive(exactly: 1), [2], "still open while admitted", file: file, line: line)

    try admitNothing(gateway, allowFileIn: dir, file: file, line: line)
    XCTAssertTrue(socket.waitForClose(timeout: 10), "the recheck closes the tunnel", file: file, line: line)
    tunnel.process.waitForOutput(file: file, line: line) { $0.contains("recheck: the gateway answered 403 access denied") }
    return gateway
}

/// The bundled gateway admitting only `destination`, as listed in an allow
/// file in `directory` (which must outlive it).
func allowFileGateway(admitting destination: String, in directory: TemporaryDirectory) throws -> GatewayFixture {
    let allow = directory.path + "/allow"
    try "\(destination)\n".write(toFile: allow, atomically: true, encoding: .utf8)
    return try GatewayFixture(["--allow-file", allow])
}

/// Empties the gateway's allow file and waits for its SIGHUP reload: from
/// now on its policy admits nothing.
func admitNothing(_ gateway: GatewayFixture, allowFileIn directory: TemporaryDirectory,
                  file: StaticString = #filePath, line: UInt = #line) throws {
    try "# nothing allowed now\n".write(toFile: directory.path + "/allow", atomically: true, encoding: .utf8)
    gateway.process.signal(SIGHUP)
    gateway.process.waitForOutput(file: file, line: line) { $0.contains("policy reloaded") }
}
