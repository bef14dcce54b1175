import Foundation
import Glibc

/// Misbehaving local clients: resets, pushing into a stalled tunnel, and
/// connecting from a chosen loopback address.
extension TestSocket {
    /// Makes the coming close a reset (RST) instead of a FIN: SO_LINGER with
    /// a zero timeout. The socket resets when the object goes away.
    func armReset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }

    /// Sends up to `total` bytes in 1 MiB chunks until the kernel has taken no
    /// byte for `stall` seconds; returns how many it took. With backpressure
    /// working this stops far short of `total`.
    func push(total: Int, stall: TimeInterval) -> Int {
        setTimeout(stall)
        let chunk = randomBytes(1 << 20)
        var sent = 0
        while sent < total {
            let n = chunk.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, min($0.count, total - sent), Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // timed out without progress (EAGAIN), or the tunnel is gone
            sent += n
        }
        return sent
    }

    /// Connects to 127.0.0.1:`port` from `source` (any 127.x.y.z works on Linux
    /// loopback), so a test can be a client from an address other than 127.0.0.1.
    static func connect(port: UInt16, from source: String, timeout: TimeInterval = 10) throws -> TestSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestError("socket: \(errno)") }
        let socket = TestSocket(fd: fd)
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestError("bind to \(source): errno \(errno)") }
        return try socket.connectLoopback(port: port, timeout: timeout, from: source)
    }
}
