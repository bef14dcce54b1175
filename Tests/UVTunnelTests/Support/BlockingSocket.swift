import Foundation
import Glibc
import XCTest
@testable import UVTunnel

/// A plain blocking IPv4 TCP socket, for what a libuv client cannot do in a
/// test: connect and send while the loop is not turning (the kernel completes
/// a loopback handshake into the listener's backlog), and look at the socket
/// options of a descriptor the code under test owns.
enum BlockingSocket {
    /// A new unconnected socket; the caller closes it.
    static func make(file: StaticString = #filePath, line: UInt = #line) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0, "socket: errno \(errno)", file: file, line: line)
        return fd
    }

    /// `connect(2)`'s status.
    static func connect(_ fd: Int32, to address: SocketAddress) -> Int32 {
        address.withSockAddr { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }

    /// A socket connected to `address` that has sent `bytes`; the caller closes it.
    static func connected(to address: SocketAddress, sending bytes: [UInt8] = [],
                          file: StaticString = #filePath, line: UInt = #line) -> Int32 {
        let fd = make(file: file, line: line)
        XCTAssertEqual(connect(fd, to: address), 0, "connect: errno \(errno)", file: file, line: line)
        if !bytes.isEmpty {
            XCTAssertEqual(bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }, bytes.count,
                           "send", file: file, line: line)
        }
        return fd
    }

    /// An integer socket option (`SOL_SOCKET`/`IPPROTO_TCP` level), nil when getsockopt fails.
    static func option(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int32? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, level, name, &value, &length) == 0 ? value : nil
    }

    /// The options a tunnel's local socket should carry, by name.
    static func keepAliveOptions(_ fd: Int32) -> [String: Int32?] {
        let tcp = Int32(IPPROTO_TCP)
        return ["TCP_NODELAY": option(fd, tcp, TCP_NODELAY), "SO_KEEPALIVE": option(fd, SOL_SOCKET, SO_KEEPALIVE),
                "TCP_KEEPIDLE": option(fd, tcp, TCP_KEEPIDLE), "TCP_KEEPINTVL": option(fd, tcp, TCP_KEEPINTVL),
                "TCP_KEEPCNT": option(fd, tcp, TCP_KEEPCNT)]
    }

    /// The descriptor of this process at the other end of `fd`, a loopback
    /// connection (the side the code under test accepted), or nil.
    static func acceptedEnd(of fd: Int32) -> Int32? {
        guard let ours = name(fd, getsockname), let theirs = name(fd, getpeername) else { return nil }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
        return open.first { other in
            other != fd && name(other, getsockname) == theirs && name(other, getpeername) == ours
        }
    }

    /// Whether the kernel has a keepalive timer running on the established
    /// connection from local port `port` to peer port `peerPort` (the `tr`
    /// column of /proc/net/tcp is 2 for it): what makes the probes happen.
    static func keepAliveTimerRuns(localPort port: UInt16, peerPort: UInt16) -> Bool {
        guard let table = procFile("/proc/net/tcp") else { return false }
        let local = String(format: ":%04X", port), remote = String(format: ":%04X", peerPort)
        return table.split(separator: "\n").contains { row in
            let fields = row.split(separator: " ")
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when ...
            return fields.count > 5 && fields[1].hasSuffix(local) && fields[2].hasSuffix(remote)
                && fields[3] == "01" && fields[5].hasPrefix("02:")
        }
    }

    /// A /proc file read to its end: it reports size 0, so a reader that
    /// trusts the size (or reads once) gets only the first page, and the
    /// connection sought is often further down.
    private static func procFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return count == 0 ? String(decoding: bytes, as: UTF8.self) : nil }
            bytes += chunk[..<count]
        }
    }

    /// The local port of a connected socket `fd`.
    static func localPort(_ fd: Int32) -> UInt16? { name(fd, getsockname).map { $0.port } }

    private struct Endpoint: Equatable {
        let address: UInt32
        let port: UInt16
    }

    private static func name(_ fd: Int32, _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32)
        -> Endpoint? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, &length) }
        }
        guard status == 0, address.sin_family == sa_family_t(AF_INET) else { return nil }
        return Endpoint(address: address.sin_addr.s_addr, port: UInt16(bigEndian: address.sin_port))
    }
}
