import CShims

/// Why a stream failed: a socket error, or a TLS error on top of one.
public struct StreamError: Error, Sendable, CustomStringConvertible {
    public let message: String
    /// The libuv code when the failure came from the socket.
    public let code: Int32?

    public init(_ error: UVError) {
        message = error.description
        code = error.code
    }

    public init(message: String) {
        self.message = message
        code = nil
    }

    public var isCancelled: Bool { code.map { UVError($0, "").isCancelled } ?? false }
    /// The far end is gone (it closed or reset its socket): ENOTCONN, EPIPE or
    /// ECONNRESET. For a local client that is how a normal session ends when
    /// it quits without reading the rest, not something to warn about.
    public var meansPeerLeft: Bool {
        guard let code else { return false }
        return code == UV_ENOTCONN.rawValue || code == UV_EPIPE.rawValue || code == UV_ECONNRESET.rawValue
    }
    public var description: String { message }
}

/// The face a relay sees of either side of a tunnel: a plain socket, a TLS
/// session over a socket, or stdin/stdout. All calls happen on the loop thread.
public protocol ByteStream: AnyObject {
    /// Receives data, EOF or an error while reading is on.
    var onRead: ((ReadEvent) -> Void)? { get set }
    func startReading()
    /// Backpressure: no `onRead` until `startReading()` again.
    func stopReading()
    /// Takes ownership of the buffers; `completion` runs once, from the loop.
    func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void)
    /// The relay's write. True: every byte reached the socket before it
    /// returned, the buffers are back in the pool and `completion` never runs.
    /// False: the rest is queued, or the write failed, and `completion` runs
    /// once, from the loop (for a write refused outright possibly at once, with
    /// the error, as `write` does; never at once with success, so a caller that
    /// stops its source after false cannot miss the restart).
    func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool
    /// Ends our direction (FIN, or close_notify then FIN) after queued writes.
    func shutdownWrite(completion: @escaping (StreamError?) -> Void)
    /// The one close path; idempotent.
    func close()
    /// Whether the peer is known to have gone for good, asked of the kernel
    /// without reading (for a source the relay has paused): nil while it may
    /// still be there. Streams with no socket of their own say nil.
    func departure() -> StreamError?
    /// Called from inside `onRead(.data)`: moves bytes this stream has
    /// already received and holds for the reader (whole buffers, in order)
    /// behind `buffers`, while their total stays within `limit`, so the
    /// relay passes them on in the same write as the one being handled. An
    /// HTTP/2 stream holds several per transport read (a kept payload, a
    /// copied one); a socket holds none.
    func takeReceived(into buffers: inout [Buffer], limit: Int)
    /// What the peer already sent, read at once without waiting, while
    /// reading is off: nil when nothing is there yet (or the stream cannot
    /// tell), so the caller starts reading as usual. A tunnel asks this of a
    /// fresh local client: its first bytes then leave with the request, in
    /// the same write, instead of a loop turn later.
    func readWaiting() -> ReadEvent?
}

extension ByteStream {
    public func departure() -> StreamError? { nil }
    public func takeReceived(into buffers: inout [Buffer], limit: Int) {}
    public func readWaiting() -> ReadEvent? { nil }
}
