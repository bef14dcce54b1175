import UVTunnel

/// One client connection to the port under test. It connects, sends the mode
/// byte (and `firstBytes`), and counts as open when the target's ack has come
/// back through the tunnel; bytes after the ack go to `onData`.
final class Session {
    let index: Int
    let stream: UVStream
    let pool: BufferPool
    private(set) var isOpen = false
    private(set) var isClosed = false

    var onOpen: ((Session) -> Void)?
    /// Receives the buffer and must give it back to `pool`.
    var onData: ((Session, Buffer) -> Void)?
    /// The connection failed or the far end closed it (not called after `close()`).
    var onEnd: ((Session, String) -> Void)?

    // Scratch state for the scenario that owns the session.
    var bytes: UInt64 = 0
    var sentAt: UInt64 = 0
    var inFlight = 0
    /// A little-endian number being assembled across reads, and its byte count so far.
    var partial: UInt64 = 0
    var partialCount = 0

    init(loop: EventLoop, index: Int) throws(UVError) {
        self.index = index
        stream = try UVStream.tcp(loop: loop)
        pool = loop.buffers
    }

    func open(_ address: SocketAddress, mode: Mode, firstBytes: [UInt8] = []) {
        stream.setNoDelay()
        do {
            try stream.connect(to: address) { [self] error in
                if let error { return fail("connect: \(error.reason)") }
                stream.onRead = { [self] event in read(event) }
                stream.startReading()
                stream.write(pool.buffers(copying: [mode.rawValue] + firstBytes)) { [self] error in
                    if let error, !error.isCancelled { fail("write: \(error)") }
                }
            }
        } catch {
            fail("connect: \(error.reason)")
        }
    }

    /// Queues `buffer` (the write owns it); a failed write ends the session.
    func send(_ buffer: Buffer, completion: (() -> Void)? = nil) {
        stream.write(buffer) { [self] error in
            if let error {
                if !error.isCancelled { fail("write: \(error)") }
                return
            }
            completion?()
        }
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        onOpen = nil
        onData = nil
        onEnd = nil
        stream.close()
    }

    private func read(_ event: ReadEvent) {
        switch event {
        case .data(let buffer):
            if !isOpen {
                let first = buffer.withReadableBytes { $0[0] }
                guard first == Wire.ack else {
                    pool.give(buffer)
                    return fail("expected the target's ack, got byte \(first)")
                }
                buffer.consume(1)
                isOpen = true
                onOpen?(self)
                if buffer.isEmpty || isClosed { return pool.give(buffer) }
            }
            guard let onData else { return pool.give(buffer) }
            onData(self, buffer)
        case .eof:
            fail("closed by the far end")
        case .error(let error):
            fail("read: \(error)")
        }
    }

    private func fail(_ reason: String) {
        guard !isClosed else { return }
        let onEnd = self.onEnd
        close()
        onEnd?(self, reason)
    }
}
