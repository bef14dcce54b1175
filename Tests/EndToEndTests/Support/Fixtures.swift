import Foundation
import XCTest

/// A temporary folder removed when the object goes away.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "uvtunnel-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The bundled gateway as a separate process, with its CA and a way to mint tokens.
final class GatewayFixture {
    let state = TemporaryDirectory()
    let process: ChildProcess
    let port: UInt16
    var caPath: String { state.path + "/ca.pem" }

    init(_ extra: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws {
        process = try ChildProcess(Products.gateway, ["--state-dir", state.path, "--ca-out", state.path + "/ca.pem"] + extra)
        guard let port = process.listeningPort(file: file, line: line) else { throw TestError("gateway did not start: \(process.stderr)") }
        self.port = port
    }

    /// A token this gateway accepts (or, with a negative ttl, an expired one).
    func token(ttl: Int = 3600) throws -> String {
        let issuer = try ChildProcess(Products.gateway, ["issue-token", "--state-dir", state.path, "--ttl=\(ttl)"])
        guard issuer.waitForExit() == 0 else { throw TestError("issue-token failed: \(issuer.stderr)") }
        let token = issuer.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // Cut or mixed output would look like a token the client refuses to send.
        guard token.split(separator: ".", omittingEmptySubsequences: false).count == 3 else {
            throw TestError("issue-token printed \(token.utf8.count) bytes that are not a JWT: \"\(token.prefix(80))\"; stderr: \(issuer.stderr)")
        }
        return token
    }

    deinit { process.stop() }
}

/// uvtunnel as a separate process, listening on a random loopback port.
final class TunnelFixture {
    let process: ChildProcess
    let port: UInt16

    init(_ arguments: [String], environment: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws {
        process = try ChildProcess(Products.tunnel, ["--listen", "127.0.0.1:0"] + arguments, environment: environment)
        guard let port = process.listeningPort(file: file, line: line) else { throw TestError("uvtunnel did not start: \(process.stderr)") }
        self.port = port
    }

    /// Arguments for a tunnel to `targetPort` through `gateway` with a valid token.
    static func arguments(gateway: GatewayFixture, targetPort: UInt16, token: String?) -> [String] {
        var args = ["--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--alternate-ca-path", gateway.caPath]
        if let token { args += ["--service-account", token] }
        return args + ["127.0.0.1:\(targetPort)"]
    }

    deinit { process.stop() }
}

/// Sends `payload`, half-closes, reads until EOF: the echo must match byte for byte.
func echoRoundTrip(port: UInt16, payload: [UInt8]) throws -> [UInt8] {
    let socket = try TestSocket.connect(port: port, timeout: 60)
    let writer = Thread {
        try? socket.send(payload)
        socket.shutdownWrite()
    }
    writer.start()
    return try socket.receiveAll()
}
