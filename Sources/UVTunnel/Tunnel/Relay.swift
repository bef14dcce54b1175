/// Copies bytes both ways between two streams until both directions have
/// ended, preserving order and half-close.
///
/// Each direction has at most one write in flight: a read the sink's socket
/// cannot take at once stops its source until the queued write completes, so
/// a slow reader pauses the fast writer and memory per tunnel stays bounded
/// (one read per direction; a source that holds more received bytes, an
/// HTTP/2 stream, adds them to the same write up to `gatherLimit`). A read the socket takes whole leaves nothing in
/// flight, and the source keeps reading in the same loop turn.
/// EOF from one side becomes a write shutdown of the other; the opposite
/// direction keeps flowing until its own EOF.
///
/// A paused source is not read, so a peer that leaves meanwhile would go
/// unseen for as long as the sink stays full (a far side that never reads:
/// forever). While a direction is paused, `PausedSourceCheck` asks the
/// source's kernel once a second whether its peer has gone for good (a reset,
/// or keepalive's verdict) and ends the relay as a read error would have.
public final class Relay {
    public enum End: Equatable {
        case completed
        /// The far end of a side went away (reset, or not connected any
        /// more) while bytes or an end were still to be passed to it.
        case peerLeft(Side, String)
        /// Any other I/O error, on the side that had it.
        case failed(Side, String)

        static func error(_ error: StreamError, on side: Side) -> End {
            error.meansPeerLeft ? .peerLeft(side, error.message) : .failed(side, error.message)
        }
    }

    public enum Side: Equatable, Sendable { case a, b }

    /// One direction: source → sink.
    private final class Direction {
        let source: ByteStream
        let sink: ByteStream
        /// Which side each is, for a failure's report.
        let sourceSide: Side
        var sinkSide: Side { sourceSide == .a ? .b : .a }
        var bytes: Int64 = 0
        var sawEnd = false
        var sinkShutDown = false
        /// The source is stopped until a queued write to the sink completes.
        var isPaused = false
        /// Restarts the source once a queued write is done: made once in
        /// `start`, so forwarding a read allocates no closure.
        var written: (StreamError?) -> Void = { _ in }
        init(source: ByteStream, sink: ByteStream, sourceSide: Side) {
            self.source = source
            self.sink = sink
            self.sourceSide = sourceSide
        }
        var isFinished: Bool { sawEnd && sinkShutDown }
    }

    private let aToB: Direction
    private let bToA: Direction
    private var onEnd: ((End) -> Void)?
    private let pool: BufferPool
    /// nil without a loop (a relay over in-memory streams has no sockets to ask).
    private var pausedCheck: PausedSourceCheck?

    /// Bytes one write carries at most when the source holds more than the
    /// read at hand: four pool buffers, as one HTTP/2 transport write.
    private var gatherLimit: Int { 4 * pool.bufferSize }

    public var bytesAToB: Int64 { aToB.bytes }
    public var bytesBToA: Int64 { bToA.bytes }

    /// `loop`: where paused sources are checked for a departed peer.
    public init(a: ByteStream, b: ByteStream, pool: BufferPool, loop: EventLoop?, onEnd: @escaping (End) -> Void) {
        aToB = Direction(source: a, sink: b, sourceSide: .a)
        bToA = Direction(source: b, sink: a, sourceSide: .b)
        self.pool = pool
        self.onEnd = onEnd
        if let loop {
            pausedCheck = PausedSourceCheck(loop: loop) { [weak self] in self?.checkPausedSources() ?? false }
        }
    }

    /// Starts both directions. `firstBytesForA` (tunnel bytes that arrived with
    /// the CONNECT answer) are written to A before anything else from B.
    public func start(firstBytesForA: Buffer? = nil) {
        for direction in [aToB, bToA] {
            direction.written = { [weak self, weak direction] error in
                guard let self, let direction, self.onEnd != nil else { return }
                if let error {
                    self.finish(.error(error, on: direction.sinkSide))
                    return
                }
                direction.isPaused = false
                direction.source.startReading()
            }
        }
        aToB.source.onRead = { [weak self] event in self?.handle(event, on: self?.aToB) }
        bToA.source.onRead = { [weak self] event in self?.handle(event, on: self?.bToA) }
        aToB.source.startReading()
        if let first = firstBytesForA, !first.isEmpty {
            if forward(first, on: bToA) { bToA.source.startReading() } else { paused(bToA) }
        } else {
            if let first = firstBytesForA { pool.give(first) }
            bToA.source.startReading()
        }
    }

    private func handle(_ event: ReadEvent, on direction: Direction?) {
        guard let direction else {
            if case .data(let buffer) = event { pool.give(buffer) }
            return
        }
        switch event {
        case .data(let buffer):
            if !forward(buffer, on: direction) {
                direction.source.stopReading()
                paused(direction)
            }
        case .eof:
            direction.sawEnd = true
            direction.source.stopReading()
            direction.sink.shutdownWrite { [weak self, weak direction] error in
                guard let self, let direction else { return }
                if let error, !error.isCancelled {
                    self.finish(.error(error, on: direction.sinkSide))  // its message names the shutdown
                    return
                }
                direction.sinkShutDown = true
                if self.aToB.isFinished && self.bToA.isFinished { self.finish(.completed) }
            }
        case .error(let error):
            finish(.error(error, on: direction.sourceSide))
        }
    }

    /// Writes one read to the sink. True: it is all in the socket already and
    /// the source may go on. False: the rest is queued, so the caller stops the
    /// source, and `written` restarts it (a failed write's completion, which
    /// may come before this returns, ends the relay instead).
    private func forward(_ buffer: Buffer, on direction: Direction) -> Bool {
        var buffers = [buffer]
        direction.source.takeReceived(into: &buffers, limit: gatherLimit)
        for taken in buffers { direction.bytes += Int64(taken.count) }
        return direction.sink.writeNow(buffers, otherwise: direction.written)
    }

    private func paused(_ direction: Direction) {
        direction.isPaused = true
        pausedCheck?.arm()
    }

    /// The check's tick: ends the relay if a paused source's peer has gone.
    /// False when no direction is paused (or the relay is over): the check stops.
    private func checkPausedSources() -> Bool {
        guard onEnd != nil else { return false }
        for direction in [aToB, bToA] where direction.isPaused {
            if let error = direction.source.departure() {
                finish(.error(error, on: direction.sourceSide))
                return false
            }
        }
        return aToB.isPaused || bToA.isPaused
    }

    private func finish(_ end: End) {
        guard let onEnd else { return }
        self.onEnd = nil
        pausedCheck?.close()
        aToB.source.onRead = nil
        bToA.source.onRead = nil
        onEnd(end)
    }
}
