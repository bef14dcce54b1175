/// A stream whose first read is a buffer that arrived before it was handed
/// over: the bytes an egress proxy sent right after its `200` head, in the
/// same read, belong to the gateway and must reach the caller first; or the
/// bytes a local client sent while its tunnel was still being set up.
final class PrefixedStream: ByteStream {
    private let inner: ByteStream
    private let pool: BufferPool
    private var first: Buffer?
    /// The inner stream already read its EOF (a local client that sent its
    /// request and ended before the gateway answered): EOF follows `first`
    /// and the inner stream is not read again.
    private let endAfterFirst: Bool
    private var endTold = false
    private var wantsData = false
    private var isClosed = false

    var onRead: ((ReadEvent) -> Void)? {
        didSet { inner.onRead = onRead }
    }

    /// Takes ownership of `first` (non-empty, or nil with `thenEOF`).
    init(_ inner: ByteStream, first: Buffer?, thenEOF: Bool = false, pool: BufferPool) {
        self.inner = inner
        self.first = first
        endAfterFirst = thenEOF
        self.pool = pool
    }

    func startReading() {
        guard !isClosed else { return }
        wantsData = true
        if let buffer = first {
            first = nil
            guard let onRead else { return pool.give(buffer) }
            onRead(.data(buffer))
            // The consumer may have stopped reading or closed meanwhile.
            guard wantsData, !isClosed else { return }
        }
        if endAfterFirst {
            // Told once; the inner stream stays unread (its EOF was taken).
            guard !endTold else { return }
            endTold = true
            onRead?(.eof)
            return
        }
        inner.startReading()
    }

    func stopReading() {
        wantsData = false
        inner.stopReading()
    }

    func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        inner.write(buffers, completion: completion)
    }

    func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        inner.writeNow(buffers, otherwise: completion)
    }

    func shutdownWrite(completion: @escaping (StreamError?) -> Void) {
        inner.shutdownWrite(completion: completion)
    }

    func departure() -> StreamError? { inner.departure() }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        onRead = nil
        if let buffer = first {
            first = nil
            pool.give(buffer)
        }
        inner.close()
    }
}
