import Foundation

/// A misbehaving gateway or target: one of the python3 scripts in
/// `Tests/Peers`, run as a real process on 127.0.0.1. Stopping it (or the
/// object going away) closes every connection it held.
final class HostilePeer {
    enum Role: String {
        case gateway = "hostile_gateway.py"
        case target = "hostile_target.py"
    }

    /// `Tests/Peers`, found from this file's place in the source tree (the
    /// scripts are not a SwiftPM resource, so no target has to declare them).
    static let scripts = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Peers")

    let process: ChildProcess
    let port: UInt16
    let mode: String

    /// A hostile gateway speaking TLS with `certificateFrom`'s generated certificate,
    /// so uvtunnel trusts it like the healthy gateway and only `mode` is at fault.
    static func gateway(_ mode: String, certificateFrom gateway: GatewayFixture,
                        file: StaticString = #filePath, line: UInt = #line) throws -> HostilePeer {
        try HostilePeer(.gateway, mode, ["--cert", gateway.state.path + "/tls-cert.pem", "--key", gateway.state.path + "/tls-key.pem"],
                        file: file, line: line)
    }

    static func target(_ mode: String, file: StaticString = #filePath, line: UInt = #line) throws -> HostilePeer {
        try HostilePeer(.target, mode, [], file: file, line: line)
    }

    private init(_ role: Role, _ mode: String, _ extra: [String], file: StaticString, line: UInt) throws {
        self.mode = mode
        let script = HostilePeer.scripts.appendingPathComponent(role.rawValue).path
        process = try ChildProcess("/usr/bin/env", ["python3", script, "--mode", mode] + extra)
        guard let port = process.listeningPort(file: file, line: line) else {
            throw TestError("\(role.rawValue) --mode \(mode) did not start: \(process.stderr)")
        }
        self.port = port
    }

    func stop() { process.stop() }

    deinit { process.stop() }
}
