import Glibc

/// stdin/stdout as one duplex stream, for `--listen -` (ssh ProxyCommand).
/// libuv never closes descriptors 0-2, so ending our output direction is
/// done here: `shutdown(SHUT_WR)` when stdout is a socket, `close(1)` when it
/// is a pipe; either way the reader sees EOF.
public final class StdioStream: ByteStream {
    private let input: UVStream
    private let output: UVStream
    private var outputEnded = false

    public init(loop: EventLoop) throws(UVError) {
        input = try UVStream.open(fd: 0, loop: loop)
        do {
            output = try UVStream.open(fd: 1, loop: loop)
        } catch {
            input.close()
            throw error
        }
    }

    public var onRead: ((ReadEvent) -> Void)? {
        get { input.onRead }
        set { input.onRead = newValue }
    }

    public func startReading() { input.startReading() }
    public func stopReading() { input.stopReading() }

    public func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        output.write(buffers, completion: completion)
    }

    public func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        output.writeNow(buffers, otherwise: completion)
    }

    /// Ends our output once queued writes are out (the handle's close runs the
    /// descriptor shutdown below).
    public func shutdownWrite(completion: @escaping (StreamError?) -> Void) {
        prepareEnd()
        output.shutdownWrite(completion: completion)
    }

    private func prepareEnd() {
        guard !outputEnded else { return }
        outputEnded = true
        output.onClose = {
            if Glibc.shutdown(1, Int32(SHUT_WR)) != 0 { Glibc.close(1) }
        }
    }

    public func close() {
        input.close()
        prepareEnd()
        output.close()
    }
}
