import Foundation
import Glibc

/// Blocking TCP sockets on 127.0.0.1 for tests: the real clients and targets
/// around the programs under test.
final class TestSocket: @unchecked Sendable {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    deinit { Glibc.close(fd) }

    static func connect(port: UInt16, timeout: TimeInterval = 10) throws -> TestSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestError("socket: \(errno)") }
        return try TestSocket(fd: fd).connectLoopback(port: port, timeout: timeout, from: nil)
    }

    /// Connects this socket to 127.0.0.1:`port` (`source` names a bound source
    /// address in the error) and sets its timeouts.
    func connectLoopback(port: UInt16, timeout: TimeInterval, from source: String?) throws -> TestSocket {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else { throw TestError("connect\(source.map { " from \($0)" } ?? "") to 127.0.0.1:\(port): errno \(errno)") }
        setTimeout(timeout)
        return self
    }

    func setTimeout(_ seconds: TimeInterval) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestError("send: errno \(errno)") }
            offset += n
        }
    }

    /// Reads up to `max` bytes; empty at EOF; throws on error or timeout.
    func receive(max: Int = 65536) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
        guard n >= 0 else { throw TestError("recv: errno \(errno)") }
        return Array(buffer[..<n])
    }

    /// Reads until EOF (or `limit` bytes).
    func receiveAll(limit: Int = 1 << 30) throws -> [UInt8] {
        var all: [UInt8] = []
        while all.count < limit {
            let chunk = try receive()
            if chunk.isEmpty { break }
            all += chunk
        }
        return all
    }

    func receive(exactly count: Int) throws -> [UInt8] {
        var all: [UInt8] = []
        while all.count < count {
            let chunk = try receive(max: min(65536, count - all.count))
            if chunk.isEmpty { throw TestError("EOF after \(all.count) of \(count) bytes") }
            all += chunk
        }
        return all
    }

    func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// True when the peer closed (EOF or reset) within `timeout`.
    func waitForClose(timeout: TimeInterval) -> Bool {
        setTimeout(timeout)
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        var word = generator.next() as UInt64
        for _ in 0..<8 where i < count {
            bytes[i] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            i += 1
        }
    }
    return bytes
}
