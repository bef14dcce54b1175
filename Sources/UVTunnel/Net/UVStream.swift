import CShims
import Glibc

/// What a read produced. A `.data` buffer now belongs to the receiver, which
/// must give it back to the pool (or pass it on to a write that will).
public enum ReadEvent {
    case data(Buffer)
    case eof
    case error(StreamError)
}

/// Owns one libuv stream handle (TCP socket, pipe or terminal) under
/// HandleOwnership's rule: alive until libuv's close callback, which is the
/// only place its memory is freed; `close()` is the one close path.
public final class UVStream: ByteStream, HandleCloseObserver {
    public enum Kind { case tcp, pipe, tty }

    public let kind: Kind
    let loop: EventLoop
    private let handle: UnsafeMutableRawPointer
    private var stream: UnsafeMutablePointer<uv_stream_t> { cshim_as_stream(handle) }
    public private(set) var isClosing = false
    private var isReading = false
    /// The buffer lent to libuv between its alloc and read callbacks.
    private var lentBuffer: Buffer?
    /// Writes handed to libuv and not yet completed.
    private var pendingWrites = 0
    /// A pipe's or terminal's "shutdown" (a close) waiting for writes to drain.
    private var closeWhenDrained: ((StreamError?) -> Void)?

    public var onRead: ((ReadEvent) -> Void)?
    /// Runs once after libuv has closed the handle (its very last callback).
    public var onClose: (() -> Void)?

    private init(loop: EventLoop, kind: Kind, initialize: (UnsafeMutableRawPointer) -> Int32, what: String) throws(UVError) {
        self.loop = loop
        self.kind = kind
        let type: uv_handle_type = switch kind {
        case .tcp: UV_TCP
        case .pipe: UV_NAMED_PIPE
        case .tty: UV_TTY
        }
        handle = .allocate(byteCount: uv_handle_size(type), alignment: 16)
        try HandleOwnership.initialize(self, raw: handle, what: what) { initialize(handle) }
    }

    /// A new, unconnected TCP socket.
    public static func tcp(loop: EventLoop) throws(UVError) -> UVStream {
        try UVStream(loop: loop, kind: .tcp, initialize: { uv_tcp_init(loop.raw, cshim_as_tcp($0)) }, what: "uv_tcp_init")
    }

    /// Wraps an inherited descriptor (stdin/stdout): a pipe or socket, or a terminal.
    public static func open(fd: Int32, loop: EventLoop) throws(UVError) -> UVStream {
        switch uv_guess_handle(fd) {
        case UV_TTY:
            return try UVStream(loop: loop, kind: .tty, initialize: { uv_tty_init(loop.raw, cshim_as_tty($0), fd, 0) }, what: "uv_tty_init(fd \(fd))")
        case UV_NAMED_PIPE, UV_TCP, UV_UDP:
            let stream = try UVStream(loop: loop, kind: .pipe, initialize: { uv_pipe_init(loop.raw, cshim_as_pipe($0), 0) }, what: "uv_pipe_init")
            let status = uv_pipe_open(cshim_as_pipe(stream.handle), fd)
            if status < 0 {
                stream.close()
                throw UVError(status, "uv_pipe_open(fd \(fd))")
            }
            return stream
        default:
            throw UVError(UV_EINVAL.rawValue, "fd \(fd) is not a pipe, socket or terminal (a regular file cannot be streamed)")
        }
    }

    static func from(_ raw: UnsafeMutablePointer<uv_stream_t>?) -> UVStream {
        Unmanaged<UVStream>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
    }

    // MARK: Setup (listeners hand a fresh TCP stream to `accept`)

    func accept(from server: UnsafeMutablePointer<uv_stream_t>) throws(UVError) {
        try UVError.check(uv_accept(server, stream), "accept")
    }

    public func setNoDelay(_ on: Bool = true) {
        guard kind == .tcp else { return }
        uv_tcp_nodelay(cshim_as_tcp(handle), on ? 1 : 0)
    }

    /// TCP keepalive after `seconds` idle plus up to `spread` seconds more,
    /// chosen by the descriptor number (libuv then probes every second, ten
    /// times). Why the spread: sockets that went idle together probe
    /// together, and the kernel queues at most net.core.netdev_max_backlog
    /// (1,000) packets per CPU from one timer run on loopback; 19,000 tunnels
    /// opened at once and idle lost probe after probe in lockstep, and
    /// thousands were declared dead (ETIMEDOUT) after 70 s. Consecutive
    /// descriptors (a burst of accepts or connects) get consecutive delays.
    public func setKeepAlive(seconds: UInt32 = 60, spread: UInt32 = 60) {
        guard kind == .tcp else { return }
        uv_tcp_keepalive(cshim_as_tcp(handle), 1, spreadIdle(seconds: seconds, spread: spread))
    }

    /// Only the spread idle time of `setKeepAlive`, one setsockopt, for a
    /// socket accepted from a listener whose keepalive it inherited
    /// (`TCPListener.setOptionsForAccepted`).
    public func spreadKeepAliveIdle(seconds: UInt32 = 60, spread: UInt32 = 60) {
        guard kind == .tcp, let fd = descriptor else { return }
        var idle = Int32(spreadIdle(seconds: seconds, spread: spread))
        // Ignored as uv_tcp_keepalive's result is: the socket keeps the
        // listener's idle time, which only loses the spread.
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, socklen_t(MemoryLayout<Int32>.size))
    }

    private func spreadIdle(seconds: UInt32, spread: UInt32) -> UInt32 {
        guard spread > 0, let fd = descriptor else { return seconds }
        return seconds + UInt32(fd) % spread
    }

    /// The socket's descriptor, nil when it has none (not open, or a pipe not yet opened).
    var descriptor: Int32? {
        var fd: uv_os_fd_t = -1
        return uv_fileno(cshim_as_handle(handle), &fd) == 0 ? fd : nil
    }

    public var peerAddress: SocketAddress? {
        guard kind == .tcp else { return nil }
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { raw in
            raw.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                uv_tcp_getpeername(cshim_as_tcp(handle), address, &length) == 0 ? SocketAddress(copying: address) : nil
            }
        }
    }

    public var localAddress: SocketAddress? {
        guard kind == .tcp else { return nil }
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { raw in
            raw.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                uv_tcp_getsockname(cshim_as_tcp(handle), address, &length) == 0 ? SocketAddress(copying: address) : nil
            }
        }
    }

    /// Starts a TCP connect; `completion` always runs exactly once, from the loop.
    public func connect(to address: SocketAddress, completion: @escaping (UVError?) -> Void) throws(UVError) {
        precondition(kind == .tcp)
        let request = UVStatusRequest<uv_connect_t>(completion: completion)
        let status = request.start { raw in
            address.withSockAddr { uv_tcp_connect(raw, cshim_as_tcp(handle), $0, UVRequestCallbacks.connect) }
        }
        // Refused: no callback will come, so the completion never runs; the caller hears it here.
        try UVError.check(status, "connect to \(address)")
        loop.descriptorTable.note(descriptor, now: loop.now)
    }

    // MARK: Reading

    public func startReading() {
        guard !isClosing, !isReading else { return }
        let status = uv_read_start(stream, UVStream.allocCallback, UVStream.readCallback)
        if status < 0 {
            onRead?(.error(StreamError(UVError(status, "read"))))
            return
        }
        isReading = true
    }

    public func stopReading() {
        guard !isClosing, isReading else { return }
        uv_read_stop(stream)
        isReading = false
    }

    /// One read(2) on the nonblocking socket, outside libuv (which has no
    /// try-read): only while libuv is not reading it, so the two never race
    /// for bytes. EAGAIN gives nil; the caller then starts reading.
    public func readWaiting() -> ReadEvent? {
        guard kind == .tcp, !isClosing, !isReading, let fd = descriptor else { return nil }
        let buffer = loop.buffers.take()
        let n = read(fd, buffer.base + buffer.end, buffer.freeSpace)
        if n > 0 {
            buffer.end += n
            return .data(buffer)
        }
        let code = errno
        loop.buffers.give(buffer)
        if n == 0 { return .eof }
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return nil }
        return .error(StreamError(UVError(-code, "read")))
    }

    private static let allocCallback: uv_alloc_cb = { raw, _, buf in
        let this = Unmanaged<UVStream>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
        let buffer = this.loop.buffers.take()
        this.lentBuffer = buffer
        buf!.pointee = uv_buf_init(buffer.base.assumingMemoryBound(to: CChar.self) + buffer.end, UInt32(buffer.freeSpace))
    }

    private static let readCallback: uv_read_cb = { raw, nread, _ in
        let this = UVStream.from(raw)
        // Not every call follows allocCallback: after a partial read, libuv
        // reports the EOF that came with POLLHUP with no buffer at all
        // (uv__stream_io). Dropping that call lost the EOF and hung the stream.
        let lent = this.lentBuffer
        this.lentBuffer = nil
        if nread > 0 {
            guard let buffer = lent else { return }  // bytes only land in a buffer we lent
            buffer.end += nread
            guard let onRead = this.onRead else { return this.loop.buffers.give(buffer) }
            onRead(.data(buffer))
            return
        }
        if let lent { this.loop.buffers.give(lent) }
        if nread == 0 { return }  // EAGAIN: nothing now
        this.isReading = false
        let event: ReadEvent = nread == Int(UV_EOF.rawValue) ? .eof : .error(StreamError(UVError(Int32(nread), "read")))
        this.onRead?(event)
    }

    // MARK: Writing

    /// Queues `buffers` for writing; they belong to the write until it completes
    /// and go back to the pool then. `completion` runs exactly once, from the loop
    /// (with a cancellation error if the stream is closed first).
    public func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        pendingWrites += 1
        // The buffers belong to the request (its completion) until it ends.
        let request = UVStatusRequest<uv_write_t> { error in
            for buffer in buffers { self.loop.buffers.give(buffer) }
            completion(error.map { StreamError($0) })
            self.writeFinished()
        }
        guard !isClosing else {
            request.fail(UVError(UV_ECANCELED.rawValue, "write"))
            return
        }
        let status = withUnsafeTemporaryAllocation(of: uv_buf_t.self, capacity: buffers.count) { bufs in
            for (i, buffer) in buffers.enumerated() {
                bufs[i] = uv_buf_init(buffer.base.assumingMemoryBound(to: CChar.self) + buffer.start, UInt32(buffer.count))
            }
            return request.start { uv_write($0, stream, bufs.baseAddress, UInt32(buffers.count), UVRequestCallbacks.write) }
        }
        if status < 0 { request.fail(UVError(status, "write")) }
    }

    /// A write is done: a close waiting for writes to drain may go ahead.
    private func writeFinished() {
        pendingWrites -= 1
        if pendingWrites == 0, let shutdown = closeWhenDrained {
            closeWhenDrained = nil
            close()
            shutdown(nil)
        }
    }

    public func write(_ buffer: Buffer, completion: @escaping (StreamError?) -> Void) {
        write([buffer], completion: completion)
    }

    /// The relay's write: offers `buffers` to the kernel at once
    /// (`uv_try_write`) and queues only what it did not take. Returns true when
    /// every byte went out before returning: the buffers are back in the pool
    /// and `completion` never runs, so the caller may go on reading without a
    /// loop turn and without stopping and restarting its source. Returns false
    /// when a remainder is queued, or when the socket has failed: then
    /// `completion` runs once, from the loop, as for `write`.
    public func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        guard !isClosing else {
            write(buffers, completion: completion)
            return false
        }
        var total = 0
        let status = withUnsafeTemporaryAllocation(of: uv_buf_t.self, capacity: buffers.count) { bufs in
            for (i, buffer) in buffers.enumerated() {
                bufs[i] = uv_buf_init(buffer.base.assumingMemoryBound(to: CChar.self) + buffer.start, UInt32(buffer.count))
                total += buffer.count
            }
            return total == 0 ? 0 : uv_try_write(stream, bufs.baseAddress, UInt32(buffers.count))
        }
        // A socket error is reported as it is: queueing the write again would
        // turn the reset the peer sent into the "broken pipe" of a second try.
        if status < 0, status != UV_EAGAIN.rawValue {
            for buffer in buffers { loop.buffers.give(buffer) }
            reportOnNextTurn(UVError(status, "write"), to: completion)
            return false
        }
        // EAGAIN wrote nothing: the kernel buffer is full, or earlier writes
        // are still queued (libuv refuses to overtake them, which keeps the order).
        var written = Int(max(0, status))
        if written == total {
            for buffer in buffers { loop.buffers.give(buffer) }
            return true
        }
        var rest: [Buffer] = []
        for buffer in buffers {
            let taken = min(written, buffer.count)
            buffer.consume(taken)
            written -= taken
            if buffer.isEmpty { loop.buffers.give(buffer) } else { rest.append(buffer) }
        }
        write(rest, completion: completion)
        return false
    }

    /// Delivers an error `uv_try_write` found on the next loop turn, as libuv
    /// delivers a failed `uv_write`'s: no caller is called back from inside its
    /// own call, and a read error the same wake-up brought (the peer's reset,
    /// which says more than a write's) is seen first.
    private func reportOnNextTurn(_ error: UVError, to completion: @escaping (StreamError?) -> Void) {
        pendingWrites += 1
        let timer = UVTimer(loop: loop)
        timer.start(milliseconds: 0) {
            timer.close()
            completion(StreamError(error))
            self.writeFinished()
        }
    }

    /// Half-closes: sends FIN once queued writes are flushed. Pipes and terminals
    /// cannot half-close, so for them the handle is closed instead, also only
    /// after queued writes are flushed (the reader sees EOF either way).
    public func shutdownWrite(completion: @escaping (StreamError?) -> Void) {
        guard kind == .tcp else {
            guard pendingWrites == 0 else {
                closeWhenDrained = completion
                return
            }
            close()
            completion(nil)
            return
        }
        let request = UVStatusRequest<uv_shutdown_t> { error in completion(error.map { StreamError($0) }) }
        guard !isClosing else {
            request.fail(UVError(UV_ECANCELED.rawValue, "shutdown"))
            return
        }
        let status = request.start { uv_shutdown($0, stream, UVRequestCallbacks.shutdown) }
        if status < 0 { request.fail(UVError(status, "shutdown")) }
    }

    // MARK: A paused source's peer

    /// Asks the kernel, without reading, whether the peer has gone for good;
    /// for a socket the relay is not reading (backpressure), which libuv does
    /// not watch. Only a pending socket error counts (POLLERR, then SO_ERROR):
    /// a reset (ECONNRESET: the client reset, or closed or died with bytes we
    /// sent it unread, which makes its kernel send RST), or keepalive giving
    /// up (ETIMEDOUT). A FIN alone (POLLRDHUP) is a half-close: the client
    /// may still be reading the answer, as `nc -N` or `ssh -N` style clients
    /// do, so it is not a departure; nor is POLLHUP without an error (both
    /// sides sent FIN in order), since the bytes it sent before are still
    /// owed to the far side. A client that closed with nothing unread and
    /// its own bytes still queued behind our full window sends nothing at all
    /// (its FIN waits behind those bytes); its kernel gives up silently after
    /// its retries, and our keepalive probe then draws the RST seen here.
    public func departure() -> StreamError? {
        guard kind == .tcp, !isClosing else { return nil }
        var fd: uv_os_fd_t = -1
        guard uv_fileno(cshim_as_handle(handle), &fd) == 0 else { return nil }
        var entry = pollfd(fd: fd, events: 0, revents: 0)  // POLLERR and POLLHUP are always reported
        guard poll(&entry, 1, 0) == 1, entry.revents & Int16(POLLERR) != 0 else { return nil }
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0, code != 0 else { return nil }
        return StreamError(UVError(-code, "read"))
    }

    // MARK: Closing

    /// The one close path. Idempotent; no read callback runs after it, pending
    /// writes complete with a cancellation, `onClose` runs last.
    public func close() {
        guard !isClosing else { return }
        isClosing = true
        isReading = false
        onRead = nil
        HandleOwnership.closeNotifyingOwner(handle)
    }

    /// libuv's last callback for this stream: the handle's memory is already freed.
    func handleDidClose() {
        if let buffer = lentBuffer {
            loop.buffers.give(buffer)
            lentBuffer = nil
        }
        let onClose = self.onClose
        self.onClose = nil
        onClose?()
    }
}
