import CShims

/// Owns one `uv_loop_t`. Everything that touches it runs on the thread that
/// calls `run()`; the type is deliberately not `Sendable`.
public final class EventLoop {
    let raw: UnsafeMutablePointer<uv_loop_t>
    /// Read and staging buffers for every stream on this loop.
    public let buffers: BufferPool
    /// Tunnels that started opening, opened or closed so far, and those still
    /// opening (handshakes under way): `MemoryReclaimer` reads them to tell a
    /// burst from a quiet loop.
    public private(set) var connectionChurn = 0
    public private(set) var connectionsOpening = 0
    private var isClosed = false
    /// A reserve for libuv's own accept spare, should that be lost (see SpareDescriptor).
    let spareDescriptor = SpareDescriptor()
    /// Tells when a socket made on this loop took the table's last slots.
    public let descriptorTable = DescriptorTableWatch()
    /// TLS starts held for a gateway's first session ticket (GatewayDialer).
    lazy var sessionTicketWait = SessionTicketWait(loop: self)

    public init(bufferSize: Int = 64 * 1024, cachedBuffers: Int = 256) throws(UVError) {
        raw = .allocate(capacity: 1)
        let status = uv_loop_init(raw)
        if status < 0 {
            raw.deallocate()
            throw UVError(status, "uv_loop_init")
        }
        buffers = BufferPool(bufferSize: bufferSize, maxCached: cachedBuffers)
    }

    /// Runs until no active handle or request is left.
    public func run() {
        uv_run(raw, UV_RUN_DEFAULT)
    }

    /// Runs one iteration, blocking for I/O only when `block` is true.
    @discardableResult
    public func runOnce(block: Bool = true) -> Bool {
        uv_run(raw, block ? UV_RUN_ONCE : UV_RUN_NOWAIT) != 0
    }

    /// A tunnel started opening (not per byte: a few calls per tunnel).
    public func connectionStartedOpening() {
        connectionsOpening += 1
        connectionChurn &+= 1
    }

    /// A tunnel that was opening is relaying, or gave up.
    public func connectionFinishedOpening() {
        connectionsOpening -= 1
        connectionChurn &+= 1
    }

    public func connectionClosed() { connectionChurn &+= 1 }

    /// libuv reported EMFILE from accept to a listener: it does that only
    /// when its spare descriptor is gone, and then retries accept at once,
    /// forever while the table stays full. Hands it our spare, so its next
    /// retry sheds the backlog and ends the turn. `emfile_fd` is a field of
    /// libuv's loop struct (unix), read by its accept path on every EMFILE.
    /// Returns whether a spare was handed over.
    @discardableResult
    func restoreAcceptSpare() -> Bool {
        guard raw.pointee.emfile_fd < 0, let fd = spareDescriptor.take() else { return false }
        raw.pointee.emfile_fd = fd
        return true
    }

    /// Milliseconds of the loop's cached clock.
    public var now: UInt64 { uv_now(raw) }

    /// Closes the loop; returns libuv's status (0, or UV_EBUSY while a handle is
    /// still open: tests assert 0 to prove nothing leaked).
    @discardableResult
    public func close() -> Int32 {
        guard !isClosed else { return 0 }
        let status = uv_loop_close(raw)
        if status == 0 {
            isClosed = true
            raw.deallocate()
        }
        return status
    }

    /// Number of handles libuv still tracks (open or closing); for tests and leak checks.
    public var handleCount: Int {
        var count = 0
        withUnsafeMutablePointer(to: &count) { counter in
            uv_walk(raw, { _, arg in
                arg!.assumingMemoryBound(to: Int.self).pointee += 1
            }, counter)
        }
        return count
    }
}
