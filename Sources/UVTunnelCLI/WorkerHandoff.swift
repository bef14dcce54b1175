import Foundation
import Glibc
import UVTunnel

/// How a `--workers` parent tells a worker who it is and where its routes
/// listen: two environment variables, read once and removed so that nothing
/// the worker starts (a browser) inherits them.
///
/// `UVTUNNEL_WORKER` is the worker's index; `UVTUNNEL_WORKER_SOCKETS` has one
/// line per route, keyed by the route's `--listen` text as written (the key
/// the supervisor uses): `FD KEY` for a listening socket the parent bound and
/// passed, or `@ADDRESS KEY` to bind ADDRESS (the port the first workers got)
/// with SO_REUSEPORT, for a worker restarted after a crash. Routes a reload
/// added since are not listed; the worker binds them itself.
struct WorkerHandoff {
    static let indexVariable = "UVTUNNEL_WORKER"
    static let socketsVariable = "UVTUNNEL_WORKER_SOCKETS"

    enum Listener: Equatable {
        case socket(Int32)
        case bind(SocketAddress)
    }

    let index: Int
    private(set) var listeners: [String: Listener]

    /// The handoff this process was started with, if it is a worker.
    static func take(environment: [String: String] = ProcessInfo.processInfo.environment) -> WorkerHandoff? {
        defer {
            unsetenv(indexVariable)
            unsetenv(socketsVariable)
        }
        guard let index = environment[indexVariable].flatMap({ Int($0) }), index >= 0 else { return nil }
        return WorkerHandoff(index: index, lines: environment[socketsVariable] ?? "")
    }

    init(index: Int, lines: String) {
        self.index = index
        listeners = [:]
        for line in lines.split(separator: "\n").prefix(1024) {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = String(parts[1])
            if parts[0].hasPrefix("@") {
                if let address = try? SocketAddress.parseListen(String(parts[0].dropFirst())) { listeners[key] = .bind(address) }
            } else if let fd = Int32(parts[0]), fd >= 3, Self.isListeningSocket(fd) {
                // Only open listening sockets count: a stray variable must not make us adopt a file.
                listeners[key] = .socket(fd)
            }
        }
    }

    /// The environment for a worker: `passed` sockets arrive as fd 3, 4, ... in
    /// order; `rebind` routes are to be bound at the given address instead.
    static func environment(index: Int, passed: [String], rebind: [(key: String, address: SocketAddress)]) -> [String: String] {
        let lines = passed.enumerated().map { "\(3 + $0.offset) \($0.element)" } + rebind.map { "@\($0.address) \($0.key)" }
        return [indexVariable: String(index), socketsVariable: lines.joined(separator: "\n")]
    }

    /// What the parent arranged for the route listening on `key`, once.
    mutating func take(_ key: String) -> Listener? { listeners.removeValue(forKey: key) }

    /// Closes the passed sockets no route took (a reload removed their routes
    /// before this worker was restarted).
    mutating func closeUnused() {
        for case .socket(let fd) in listeners.values { Glibc.close(fd) }
        listeners = [:]
    }

    private static func isListeningSocket(_ fd: Int32) -> Bool {
        var listening: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 && listening != 0
    }
}
