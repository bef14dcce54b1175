/// A stream whose first read is a buffer that arrived before it was handed
/// over: the bytes an egress proxy sent right after its `200` head, in the
/// same read, belong to the gateway and must reach the caller first.
final class PrefixedStream: ByteStream {
    private let inner: ByteStream
    private let pool: BufferPool
    private var first: Buffer?
    private var wantsData = false
    private var isClosed = false

    var onRead: ((ReadEvent) -> Void)? {
        didSet { inner.onRead = onRead }
    }

    /// Takes ownership of `first` (non-empty).
    init(_ inner: ByteStream, first: Buffer, pool: BufferPool) {
        self.inner = inner
        self.first = first
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
