import Foundation
import Glibc

/// A TCP relay on 127.0.0.1 between a client and `upstreamPort` that passes
/// every byte on unchanged and counts the TLS records going each way, from
/// their 5-byte headers (type, version, length), as a peer would read them.
final class TLSRecordRelay: @unchecked Sendable {
    enum Direction { case up, down }

    let port: UInt16
    private let upstreamPort: UInt16
    private let listener: TestSocket
    private let lock = NSLock()
    private var records: [Direction: Int] = [.up: 0, .down: 0]
    private var sockets: [TestSocket] = []

    init(upstreamPort: UInt16) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = TestSocket(fd: fd)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && Glibc.listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw TestError("relay bind/listen: errno \(errno)") }
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in acceptLoop() }.start()
    }

    /// Records seen so far going `direction` (up: client to upstream).
    func count(_ direction: Direction) -> Int { lock.withLock { records[direction]! } }

    private func acceptLoop() {
        while true {
            let fd = accept(listener.fd, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            let client = TestSocket(fd: fd)
            guard let upstream = try? TestSocket.connect(port: upstreamPort) else { return }
            client.setTimeout(0)
            upstream.setTimeout(0)
            lock.withLock { sockets += [client, upstream] }
            Thread { [self] in pass(from: client, to: upstream, .up) }.start()
            Thread { [self] in pass(from: upstream, to: client, .down) }.start()
        }
    }

    private func pass(from source: TestSocket, to sink: TestSocket, _ direction: Direction) {
        var header: [UInt8] = []
        var bodyLeft = 0
        while let chunk = try? source.receive(), !chunk.isEmpty {
            var seen = 0
            var i = 0
            while i < chunk.count {
                if bodyLeft > 0 {
                    let n = min(bodyLeft, chunk.count - i)
                    bodyLeft -= n
                    i += n
                    continue
                }
                header.append(chunk[i])
                i += 1
                if header.count == 5 {
                    bodyLeft = Int(header[3]) << 8 | Int(header[4])
                    header.removeAll()
                    seen += 1
                }
            }
            // Counted before they go on: once the peer has them, so has `count`.
            lock.withLock { records[direction]! += seen }
            guard (try? sink.send(chunk)) != nil else { break }
        }
        sink.shutdownWrite()
    }

    /// Ends every relayed connection and the listener.
    func stop() {
        Glibc.shutdown(listener.fd, Int32(SHUT_RDWR))
        lock.withLock { sockets.forEach { Glibc.shutdown($0.fd, Int32(SHUT_RDWR)) } }
    }

    deinit { stop() }
}
