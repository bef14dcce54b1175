import CShims

/// Owns one `uv_udp_t` under HandleOwnership's rule: alive until libuv's
/// close callback, the only place its memory is freed; `close()` is the one
/// close path. Receives into pool buffers (a 64 KiB pool buffer holds any UDP
/// payload); each send is a `UVRequest` that owns its buffer until libuv is
/// done with it.
public final class UDPSocket {
    private let loop: EventLoop
    private let handle: UnsafeMutablePointer<uv_udp_t> = .allocate(capacity: 1)
    public private(set) var isClosing = false
    /// The buffer lent to libuv between its alloc and recv callbacks.
    private var lentBuffer: Buffer?
    /// A datagram and who sent it; the buffer is the receiver's to give back.
    private var onDatagram: ((Buffer, SocketAddress) -> Void)?
    /// A receive error (the socket goes on) or a truncated datagram, dropped.
    public var onReceiveError: ((UVError) -> Void)?
    public private(set) var address: SocketAddress
    /// Sends handed to libuv and not yet completed.
    public private(set) var pendingSends = 0

    /// Binds to `address` (port 0: any free port).
    public init(loop: EventLoop, binding address: SocketAddress) throws(UVError) {
        self.loop = loop
        self.address = address
        try HandleOwnership.initialize(self, handle, what: "make a UDP socket for \(address)") {
            uv_udp_init_ex(loop.raw, $0, UInt32(address.family))
        }
        do throws(UVError) {
            try UVError.check(address.withSockAddr { uv_udp_bind(handle, $0, 0) }, "bind UDP \(address)")
        } catch {
            close()
            throw error
        }
        if let bound = boundAddress() { self.address = bound }
    }

    /// Asks the kernel for `bytes` of receive and send buffer (it caps them at
    /// net.core.rmem_max / wmem_max without saying so); returns what it granted.
    /// A relay takes datagrams in bursts (a TLS read can hold many), and with
    /// the default 208 KiB a burst of large datagrams overflows and is lost.
    @discardableResult
    public func setBufferSizes(_ bytes: Int32) -> (receive: Int32, send: Int32) {
        guard !isClosing else { return (0, 0) }
        let raw = UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)
        var receive = bytes, send = bytes
        _ = uv_recv_buffer_size(raw, &receive)
        _ = uv_send_buffer_size(raw, &send)
        // A value of 0 asks for the current size (Linux reports twice what was set: its bookkeeping).
        receive = 0
        send = 0
        _ = uv_recv_buffer_size(raw, &receive)
        _ = uv_send_buffer_size(raw, &send)
        return (receive, send)
    }

    private func boundAddress() -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { raw in
            raw.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                uv_udp_getsockname(handle, address, &length) == 0 ? SocketAddress(copying: address) : nil
            }
        }
    }

    // MARK: Receiving

    public func startReceiving(_ body: @escaping (Buffer, SocketAddress) -> Void) throws(UVError) {
        guard !isClosing else { return }
        onDatagram = body
        try UVError.check(uv_udp_recv_start(handle, UDPSocket.allocCallback, UDPSocket.recvCallback), "receive on UDP \(address)")
    }

    private static let allocCallback: uv_alloc_cb = { raw, _, buf in
        let this = Unmanaged<UDPSocket>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
        let buffer = this.loop.buffers.take()
        this.lentBuffer = buffer
        buf!.pointee = uv_buf_init(buffer.base.assumingMemoryBound(to: CChar.self) + buffer.end, UInt32(buffer.freeSpace))
    }

    private static let recvCallback: uv_udp_recv_cb = { raw, nread, _, sender, flags in
        let this = Unmanaged<UDPSocket>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
        guard let buffer = this.lentBuffer else { return }
        if nread < 0 {
            this.lentBuffer = nil
            this.loop.buffers.give(buffer)
            this.onReceiveError?(UVError(Int32(nread), "receive on UDP \(this.address)"))
            return
        }
        this.lentBuffer = nil
        // nread 0 without a sender: nothing more to read now, and an idle
        // socket holds no buffer. With a sender it is an empty datagram, a real one.
        guard let sender, let from = SocketAddress(copying: sender) else { return this.loop.buffers.give(buffer) }
        if flags & UInt32(UV_UDP_PARTIAL.rawValue) != 0 {
            this.loop.buffers.give(buffer)
            this.onReceiveError?(UVError(UV_EMSGSIZE.rawValue, "datagram from \(from) larger than \(buffer.capacity) bytes, dropped"))
            return
        }
        buffer.end += nread
        guard let onDatagram = this.onDatagram else { return this.loop.buffers.give(buffer) }
        onDatagram(buffer, from)
    }

    // MARK: Sending

    /// Sends one datagram of `buffer`'s bytes to `destination`; the buffer goes
    /// back to the pool when libuv is done. `completion` runs once, from the
    /// loop, or now when the send is refused at once.
    public func send(_ buffer: Buffer, to destination: SocketAddress, completion: ((UVError?) -> Void)? = nil) {
        let request = UVStatusRequest<uv_udp_send_t> { error in
            self.loop.buffers.give(buffer)
            self.pendingSends -= 1
            completion?(error)
        }
        pendingSends += 1
        guard !isClosing else { return request.fail(UVError(UV_ECANCELED.rawValue, "send")) }
        var buf = uv_buf_init(buffer.base.assumingMemoryBound(to: CChar.self) + buffer.start, UInt32(buffer.count))
        let status = request.start { raw in
            destination.withSockAddr { uv_udp_send(raw, handle, &buf, 1, $0, UDPSocket.sendCallback) }
        }
        if status < 0 { request.fail(UVError(status, "send to \(destination)")) }
    }

    private static let sendCallback: uv_udp_send_cb = { raw, status in
        UVStatusRequest<uv_udp_send_t>.complete(raw!, status < 0 ? UVError(status, "send") : nil)
    }

    /// Stops receiving; sends in flight end with ECANCELED or complete.
    public func close() {
        guard !isClosing else { return }
        isClosing = true
        onDatagram = nil
        onReceiveError = nil
        if let lent = lentBuffer {
            // libuv lends no buffer once the handle is closing: this one is ours again.
            lentBuffer = nil
            loop.buffers.give(lent)
        }
        HandleOwnership.close(handle)
    }
}
