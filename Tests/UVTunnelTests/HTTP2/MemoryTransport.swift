@testable import UVTunnel

/// The client session's transport, in memory: what the session writes goes
/// to `onWrite` (the test's server) at once; what the server sends is read
/// by the session on a later loop turn, as from a socket, so neither side
/// is ever called from inside the other.
final class MemoryTransport: ByteStream {
    var onRead: ((ReadEvent) -> Void)?
    var onWrite: (([UInt8]) -> Void)?
    private let loop: EventLoop
    private let timer: UVTimer
    private var pending: [[UInt8]] = []
    private var pendingEOF = false
    private var reading = false
    private var armed = false
    private(set) var isClosed = false
    private(set) var bytesWritten = 0
    /// Transport writes the session made (each a TLS write and a syscall on a real connection).
    private(set) var writeCalls = 0

    init(loop: EventLoop) {
        self.loop = loop
        timer = UVTimer(loop: loop)
    }

    /// Bytes from the server, read by the session on a later loop turn.
    func inject(_ bytes: [UInt8]) {
        guard !bytes.isEmpty, !isClosed else { return }
        pending.append(bytes)
        schedule()
    }

    /// The server hangs up.
    func injectEOF() {
        pendingEOF = true
        schedule()
    }

    private func schedule() {
        guard reading, !armed, !isClosed else { return }
        armed = true
        timer.start(milliseconds: 0) { [weak self] in
            guard let self else { return }
            self.armed = false
            self.deliver()
        }
    }

    private func deliver() {
        while reading, !isClosed, !pending.isEmpty {
            let bytes = pending.removeFirst()
            var offset = 0
            while offset < bytes.count {
                let buffer = loop.buffers.take()
                offset += buffer.append(bytes[offset...])
                onRead?(.data(buffer)) ?? loop.buffers.give(buffer)
            }
        }
        if reading, !isClosed, pending.isEmpty, pendingEOF {
            pendingEOF = false
            onRead?(.eof)
        }
    }

    func startReading() {
        reading = true
        schedule()
    }

    func stopReading() { reading = false }

    func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        _ = writeNow(buffers, otherwise: completion)
        completion(nil)
    }

    func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        writeCalls += 1
        for buffer in buffers {
            bytesWritten += buffer.count
            if !isClosed { onWrite?(buffer.bytes) }
            loop.buffers.give(buffer)
        }
        return true
    }

    func shutdownWrite(completion: @escaping (StreamError?) -> Void) { completion(nil) }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        onRead = nil
        timer.close()
    }
}
