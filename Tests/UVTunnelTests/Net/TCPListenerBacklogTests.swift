import CShims
import Glibc
import XCTest
@testable import UVTunnel

/// A listener's accept queue is as long as the kernel allows: a burst of
/// connects that arrives while the loop is busy waits in it, instead of
/// being dropped and retried by the clients' kernels seconds later.
final class TCPListenerBacklogTests: XCTestCase {
    /// 1,500 connects (or net.core.somaxconn's worth, if smaller) to a
    /// listener whose loop never runs: every one completes, which a queue of
    /// 1,024 (the old default) would not allow.
    func testABurstLongerThanTheOldBacklogWaitsInTheQueue() throws {
        DescriptorLimit.raiseSoftToHard()
        let loop = try EventLoop()
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        defer {
            listener.close()
            loop.run()
            _ = loop.close()
        }
        let count = min(1_500, try Self.somaxconn())
        var clients: [Int32] = []
        defer { clients.forEach { _ = Glibc.close($0) } }
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            XCTAssertGreaterThanOrEqual(fd, 0, "socket: errno \(errno)")
            guard fd >= 0 else { return }
            clients.append(fd)
            let status = listener.address.withSockAddr { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            XCTAssert(status == 0 || errno == EINPROGRESS, "connect: errno \(errno)")
        }
        // A connect the queue had no room for is dropped; its SYN goes again only after a second.
        var pending = Set(clients)
        let deadline = Date().addingTimeInterval(0.8)
        while !pending.isEmpty && Date() < deadline {
            var polls = pending.map { pollfd(fd: $0, events: Int16(POLLOUT), revents: 0) }
            _ = poll(&polls, nfds_t(polls.count), 50)
            for entry in polls where entry.revents != 0 {
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &error, &length)
                XCTAssertEqual(error, 0, "a connect failed")
                pending.remove(entry.fd)
            }
        }
        XCTAssertEqual(count - pending.count, count, "connects completed without an accept")
    }

    private static func somaxconn() throws -> Int {
        let text = try String(contentsOfFile: "/proc/sys/net/core/somaxconn", encoding: .utf8)
        return try XCTUnwrap(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
