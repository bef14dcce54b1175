import CShims
import Glibc

/// Owns a listening `uv_tcp_t`. Each pending connection is accepted into a
/// fresh `UVStream` and handed to `onAccept`.
public final class TCPListener {
    private let loop: EventLoop
    private let handle: UnsafeMutablePointer<uv_tcp_t> = .allocate(capacity: 1)
    private var isClosing = false
    private var onAccept: ((UVStream) -> Void)?
    /// Called for accept failures (EMFILE and the like); the listener goes on.
    public var onAcceptError: ((UVError) -> Void)?
    public private(set) var address: SocketAddress

    /// The accept queue every listener asks for: as long as the kernel
    /// allows (Linux caps it at net.core.somaxconn, 4,096 by default). Why
    /// not less: connects that find the queue full are dropped, and their
    /// kernels send the SYN again after 1, 3, 7, 15, 31 and 63 s, all of a
    /// burst at the same moments, so each wave gets in only as many as the
    /// queue holds. Seen here: 19,000 connects at once while uvtunnel was
    /// stopped for 8 s (a loaded machine's stand-in) against a queue of
    /// 1,024: two minutes of waves, and 6,124 connects timed out.
    public static let maximumBacklog = Int32.max

    /// `reusePort` shares the port with other sockets bound the same way
    /// (`--workers`: each worker binds routes added by a reload itself).
    public init(loop: EventLoop, address: SocketAddress, backlog: Int32 = maximumBacklog, reusePort: Bool = false) throws(UVError) {
        self.loop = loop
        self.address = address
        // With a family given, libuv makes the socket now, so options can be set before bind.
        try HandleOwnership.initialize(self, handle, what: "make a socket to listen on \(address)") {
            uv_tcp_init_ex(loop.raw, $0, UInt32(address.family))
        }
        do throws(UVError) {
            if reusePort { try setReusePort() }
            try UVError.check(address.withSockAddr { uv_tcp_bind(handle, $0, 0) }, "bind \(address)")
            // uv_tcp_bind may defer EADDRINUSE to listen; both name the address.
            try UVError.check(uv_listen(cshim_as_stream(handle), backlog, TCPListener.connectionCallback), "listen on \(address)")
        } catch {
            close()
            throw error
        }
        if let bound = boundAddress() { self.address = bound }
        loop.spareDescriptor.ensure()
    }

    /// Adopts a listening socket someone else made (systemd socket activation).
    public init(loop: EventLoop, adopting fd: Int32, backlog: Int32 = maximumBacklog) throws(UVError) {
        self.loop = loop
        address = try! SocketAddress(ip: "0.0.0.0", port: 0)  // a literal that always parses; replaced below
        try HandleOwnership.initialize(self, handle, what: "adopt socket fd \(fd): uv_tcp_init") { uv_tcp_init(loop.raw, $0) }
        do throws(UVError) {
            try UVError.check(uv_tcp_open(handle, uv_os_sock_t(fd)), "adopt socket fd \(fd)")
            try UVError.check(uv_listen(cshim_as_stream(handle), backlog, TCPListener.connectionCallback), "listen on fd \(fd)")
        } catch {
            close()
            throw error
        }
        if let bound = boundAddress() { address = bound }
        loop.spareDescriptor.ensure()
    }

    public func start(_ body: @escaping (UVStream) -> Void) { onAccept = body }

    /// TCP_NODELAY and keepalive (after `keepAliveSeconds` idle, then
    /// libuv's probes) on the listening socket. Linux makes each accepted
    /// socket a copy of its listener, options and keepalive timer included,
    /// so an accept needs no setsockopt for them where it took five (the
    /// spread idle time is one; a burst of 9,500 connects: 38,000 system
    /// calls fewer). Errors are ignored as they
    /// are per socket: a listener that refuses them (not TCP) hands out
    /// sockets that would have refused them too.
    public func setOptionsForAccepted(keepAliveSeconds: UInt32 = 60) {
        uv_tcp_nodelay(handle, 1)
        uv_tcp_keepalive(handle, 1, keepAliveSeconds)
    }

    private func setReusePort() throws(UVError) {
        var fd = uv_os_fd_t()
        try UVError.check(uv_fileno(cshim_as_handle(handle), &fd), "socket for \(address)")
        var on: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw UVError(-errno, "set SO_REUSEPORT on \(address)")
        }
    }

    private func boundAddress() -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { raw in
            raw.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                uv_tcp_getsockname(handle, address, &length) == 0 ? SocketAddress(copying: address) : nil
            }
        }
    }

    private static let connectionCallback: uv_connection_cb = { raw, status in
        let this = Unmanaged<TCPListener>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
        guard !this.isClosing else { return }
        if status < 0 {
            // For EMFILE libuv sheds the backlog with its own spare descriptor
            // and does not call here; it does when that spare is gone, and then
            // calls accept again at once, forever while the table is full:
            // give it ours, so that its next try sheds and the turn ends.
            if status == UV_EMFILE.rawValue || status == UV_ENFILE.rawValue { this.loop.restoreAcceptSpare() }
            this.onAcceptError?(UVError(status, "accept"))
            return
        }
        this.loop.spareDescriptor.ensure()
        let client: UVStream
        do throws(UVError) {
            client = try UVStream.tcp(loop: this.loop)
        } catch {
            this.onAcceptError?(error)
            return
        }
        do throws(UVError) {
            try client.accept(from: raw!)
        } catch {
            client.close()
            this.onAcceptError?(error)
            return
        }
        this.loop.descriptorTable.note(client.descriptor, now: this.loop.now)
        guard let onAccept = this.onAccept else { return client.close() }
        onAccept(client)
    }

    /// Stops accepting. Connections already accepted are not affected.
    public func close() {
        guard !isClosing else { return }
        isClosing = true
        onAccept = nil
        onAcceptError = nil
        HandleOwnership.close(handle)
    }
}
