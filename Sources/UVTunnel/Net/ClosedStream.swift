/// A local side with nothing behind it, for a tunnel that only probes the
/// gateway and never relays.
final class ClosedStream: ByteStream {
    var onRead: ((ReadEvent) -> Void)?
    func startReading() {}
    func stopReading() {}
    func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        completion(StreamError(message: "probe has no local side"))
    }
    func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        write(buffers, completion: completion)
        return false
    }
    func shutdownWrite(completion: @escaping (StreamError?) -> Void) { completion(nil) }
    func close() {}
}
