import CShims
import Glibc

/// A listening TCP socket bound with `SO_REUSEPORT`, made outside any loop:
/// `--workers N` binds one per worker and route in the parent, then hands each
/// worker its own. The kernel spreads new connections across the sockets of
/// one port, so the workers share the load without sharing an accept queue.
/// Owns its descriptor until `close()`.
public final class ReusePortSocket {
    public let fd: Int32
    public let address: SocketAddress

    /// Binds and listens; `address` may have port 0, then `self.address` has the real one.
    public init(address: SocketAddress, backlog: Int32 = TCPListener.maximumBacklog) throws(UVError) {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw UVError(-errno, "socket for \(address)") }
        var on: Int32 = 1
        let length = socklen_t(MemoryLayout<Int32>.size)
        // SO_REUSEADDR as libuv sets it on every listener: a restart need not wait out TIME_WAIT.
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, length) == 0,
              setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, length) == 0 else {
            let error = UVError(-errno, "set SO_REUSEPORT on \(address)")
            Glibc.close(fd)
            throw error
        }
        let bound = address.withSockAddr { bind(fd, $0, socklen_t(address.isIPv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)) }
        guard bound == 0 else {
            let error = UVError(-errno, "bind \(address)")
            Glibc.close(fd)
            throw error
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let error = UVError(-errno, "listen on \(address)")
            Glibc.close(fd)
            throw error
        }
        var storage = sockaddr_storage()
        var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) { raw in
            raw.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) == 0 ? SocketAddress(copying: $0) : nil }
        }
        self.fd = fd
        self.address = named ?? address
    }

    private var isClosed = false

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    deinit { close() }
}
