import CShims
import Foundation
@testable import UVTunnel

/// Two `ByteStream`s joined to each other in memory on one `EventLoop` (as
/// NIO's EmbeddedChannel): what one end writes, the other reads. For unit
/// tests of anything that sits on a `ByteStream` (TLSStream, Relay, the CONNECT
/// client) without sockets or processes.
///
/// It keeps the promises a libuv socket keeps, and the tests rely on them:
/// - Nothing calls back from inside the call that caused it: bytes written
///   reach the peer's `onRead` on a later loop turn, and every completion
///   (success or error) runs on a later turn.
/// - Each direction holds at most `capacity` bytes (the kernel's buffers).
///   A reader that stopped reading leaves them there; a writer whose bytes do
///   not fit gets `writeNow` false, and its completion only once the reader
///   has drained enough for the rest to go in.
/// - `shutdownWrite`: the peer reads every byte queued before it, then EOF.
/// - `close` (chosen, as a socket closed with nothing unread sends FIN): the
///   peer reads what was already sent, then EOF; the peer's queued and later
///   writes fail with ECONNRESET; this end's queued writes and shutdown
///   complete with ECANCELED, and its unread bytes are dropped.
/// Every `.data` buffer comes from `loop.buffers`, and every buffer handed to
/// a write goes back there, so a test can end with `outstanding == 0`.
struct MemoryStreamPair {
    let a: MemoryStream
    let b: MemoryStream

    /// `maxRead` caps the bytes in one read (a small value splits TLS records
    /// across reads).
    init(loop: EventLoop, capacity: Int = 64 * 1024, maxRead: Int = .max) {
        let link = MemoryLink(loop: loop, maxRead: maxRead)
        a = MemoryStream(name: "a", link: link, capacity: capacity)
        b = MemoryStream(name: "b", link: link, capacity: capacity)
        link.join(a, b)
    }
}

/// What both ends share: the loop turn that moves bytes and runs completions.
/// Holds the ends weakly (they hold it), and closes its idle handle once both
/// ends are closed (or gone) and nothing is left to run.
final class MemoryLink {
    let pool: BufferPool
    let maxRead: Int
    private weak var a: MemoryStream?
    private weak var b: MemoryStream?
    private var turn: LoopTurn?
    private var due: [() -> Void] = []

    init(loop: EventLoop, maxRead: Int) {
        pool = loop.buffers
        self.maxRead = maxRead
        // Strong: the link must outlive its ends while the loop still has its
        // last turn to run (completions, then closing this handle). The cycle
        // ends when `runTurn` closes the turn and lets go of it.
        var link: MemoryLink?
        turn = LoopTurn(loop: loop) { link?.runTurn() }
        link = self
    }

    fileprivate func join(_ a: MemoryStream, _ b: MemoryStream) {
        self.a = a
        self.b = b
    }

    func peer(of end: MemoryStream) -> MemoryStream? { end === a ? b : a }

    /// Runs `body` on a later turn (completions: never inside the caller's call).
    func later(_ body: @escaping () -> Void) {
        due.append(body)
        schedule()
    }

    func schedule() { turn?.request() }

    private func runTurn() {
        let now = due
        due = []
        for body in now { body() }
        let ends = [a, b].compactMap { $0 }
        for end in ends { end.deliverReads() }
        // Reads made room: queued writes move on.
        for end in ends { end.moveQueuedWrites() }
        if !due.isEmpty || ends.contains(where: { $0.canDeliver }) {
            schedule()
        } else if ends.allSatisfy({ $0.isClosed }) {
            turn?.close()
            turn = nil
        }
    }
}

/// One end of a `MemoryStreamPair`.
final class MemoryStream: ByteStream {
    let name: String
    private let link: MemoryLink
    private var pool: BufferPool { link.pool }
    /// What the peer wrote and this end has not read yet.
    let inbound: MemoryWire

    var onRead: ((ReadEvent) -> Void)?
    private(set) var isReading = false
    private(set) var isClosed = false
    /// EOF or an error was delivered: no more reads.
    private(set) var readEnded = false
    private(set) var didShutdown = false
    private var queued: [(buffers: [Buffer], completion: (StreamError?) -> Void)] = []
    private var pendingShutdown: ((StreamError?) -> Void)?
    private var writeError: StreamError?
    /// Reads end after `remaining` more bytes, with EOF (nil) or the error.
    private var cut: (remaining: Int, error: StreamError?)?

    // MARK: What tests observe

    /// Every byte this end wrote that entered the wire, in order.
    private(set) var written = Data()
    private(set) var readsDelivered = 0
    private(set) var bytesDelivered = 0
    /// Runs after each `.data` delivered (to act at an exact point of a protocol exchange).
    var didDeliver: ((MemoryStream) -> Void)?
    /// Bytes written and not yet taken by the wire.
    var queuedBytes: Int { queued.reduce(0) { $0 + $1.buffers.reduce(0) { $0 + $1.count } } }
    /// Pool buffers this end holds for queued writes.
    var queuedBuffers: Int { queued.reduce(0) { $0 + $1.buffers.count } }

    fileprivate init(name: String, link: MemoryLink, capacity: Int) {
        self.name = name
        self.link = link
        inbound = MemoryWire(capacity: capacity)
    }

    // MARK: Hooks that make things go wrong

    /// Reads deliver `afterBytes` more bytes, then the error (or EOF when nil),
    /// and the rest of what the peer sent is lost: a reset, or a connection cut
    /// inside a TLS record.
    func cutReads(afterBytes: Int, error: StreamError?) {
        cut = (afterBytes, error)
        link.schedule()
    }

    /// The next read is this error (what libuv reports for a reset).
    func injectReadError(_ error: StreamError = MemoryStream.error(UV_ECONNRESET, "read")) {
        cutReads(afterBytes: 0, error: error)
    }

    /// This write and every later one fail with `error` (queued ones too).
    func injectWriteError(_ error: StreamError = MemoryStream.error(UV_EPIPE, "write")) {
        writeError = error
        failQueued(with: error)
    }

    static func error(_ code: uv_errno_t, _ operation: String) -> StreamError {
        StreamError(UVError(code.rawValue, operation))
    }

    // MARK: ByteStream

    func startReading() {
        guard !isClosed, !readEnded else { return }
        isReading = true
        link.schedule()
    }

    func stopReading() {
        isReading = false
    }

    func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        if let error = refusal() { return refuse(buffers, error, completion) }
        queued.append((buffers, completion))
        moveQueuedWrites()
    }

    func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        if let error = refusal() {
            refuse(buffers, error, completion)
            return false
        }
        let total = buffers.reduce(0) { $0 + $1.count }
        guard queued.isEmpty, let peer = link.peer(of: self), total <= peer.inbound.room else {
            write(buffers, completion: completion)
            return false
        }
        for buffer in buffers {
            push(buffer, count: buffer.count, into: peer.inbound)
            pool.give(buffer)
        }
        link.schedule()
        return true
    }

    func shutdownWrite(completion: @escaping (StreamError?) -> Void) {
        if isClosed { return link.later { completion(MemoryStream.error(UV_ECANCELED, "shutdown")) } }
        if let writeError { return link.later { completion(writeError) } }
        guard !didShutdown else { return link.later { completion(nil) } }
        didShutdown = true
        guard let peer = link.peer(of: self), !peer.isClosed else {
            return link.later { completion(MemoryStream.error(UV_ECONNRESET, "shutdown")) }
        }
        pendingShutdown = completion
        moveQueuedWrites()
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        isReading = false
        onRead = nil
        didDeliver = nil
        inbound.discard()
        failQueued(with: MemoryStream.error(UV_ECANCELED, "write"))
        if let peer = link.peer(of: self) {
            peer.inbound.isFinished = true
            peer.failQueued(with: MemoryStream.error(UV_ECONNRESET, "write"))
        }
        link.schedule()
    }

    // MARK: Moving bytes (the link's turn)

    private func refusal() -> StreamError? {
        if isClosed { return MemoryStream.error(UV_ECANCELED, "write") }
        if let writeError { return writeError }
        if didShutdown { return MemoryStream.error(UV_EPIPE, "write") }
        guard let peer = link.peer(of: self), !peer.isClosed else { return MemoryStream.error(UV_ECONNRESET, "write") }
        return nil
    }

    private func refuse(_ buffers: [Buffer], _ error: StreamError, _ completion: @escaping (StreamError?) -> Void) {
        for buffer in buffers { pool.give(buffer) }
        link.later { completion(error) }
    }

    private func failQueued(with error: StreamError) {
        let failing = queued
        queued = []
        for (buffers, completion) in failing {
            for buffer in buffers { pool.give(buffer) }
            link.later { completion(error) }
        }
        if let shutdown = pendingShutdown {
            pendingShutdown = nil
            link.later { shutdown(error) }
        }
    }

    private func push(_ buffer: Buffer, count n: Int, into wire: MemoryWire) {
        buffer.withReadableBytes { bytes in
            let part = UnsafeRawBufferPointer(rebasing: bytes.prefix(n))
            wire.push(part)
            if n > 0 { written.append(part.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n) }
        }
        buffer.consume(n)
    }

    /// Moves queued writes into the peer's wire as far as it has room;
    /// completes each write whose last byte went in, then a waiting shutdown.
    func moveQueuedWrites() {
        guard let peer = link.peer(of: self), !peer.isClosed else { return }
        let wire = peer.inbound
        var moved = 0
        while !queued.isEmpty {
            while let first = queued[0].buffers.first {
                let n = min(first.count, wire.room)
                if n > 0 { push(first, count: n, into: wire) }
                moved += n
                guard first.isEmpty else { break }
                pool.give(first)
                queued[0].buffers.removeFirst()
            }
            guard queued[0].buffers.isEmpty else { break }
            let completion = queued.removeFirst().completion
            link.later { completion(nil) }
        }
        if queued.isEmpty, let shutdown = pendingShutdown {
            pendingShutdown = nil
            wire.isFinished = true
            link.later { shutdown(nil) }
        }
        // Only when bytes moved: a full wire must not keep the loop spinning.
        if moved > 0 { link.schedule() }
    }

    /// Something is there for a reader that wants it.
    var canDeliver: Bool {
        isReading && !isClosed && (inbound.count > 0 || (inbound.isFinished && !readEnded) || cut?.remaining == 0)
    }

    /// Hands what arrived to `onRead`, a bounded number of reads per turn (as
    /// libuv reads a socket at most 32 times per wake-up).
    func deliverReads() {
        var reads = 0
        while isReading, !isClosed, reads < 16 {
            if let cut, cut.remaining == 0 {
                self.cut = nil
                inbound.discard()
                return end(cut.error.map { .error($0) } ?? .eof)
            }
            if inbound.count > 0 {
                let buffer = pool.take()
                let limit = min(link.maxRead, cut?.remaining ?? .max)
                let got = buffer.fill { base, space in inbound.pop(into: base, space: min(space, limit)) }
                cut?.remaining -= got
                readsDelivered += 1
                bytesDelivered += got
                reads += 1
                if let onRead { onRead(.data(buffer)) } else { pool.give(buffer) }
                didDeliver?(self)
                continue
            }
            if inbound.isFinished, !readEnded { end(.eof) }
            return
        }
    }

    private func end(_ event: ReadEvent) {
        readEnded = true
        isReading = false
        onRead?(event)
    }
}
