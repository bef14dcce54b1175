import Foundation
import XCTest
@testable import UVTunnel

/// The uv_udp_t owner: datagrams (an empty one too) with their sender, a
/// send's buffer back in the pool, a refused bind that leaves nothing open.
final class UDPSocketTests: XCTestCase {
    private func spin(_ loop: EventLoop, until condition: () -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        let deadline = Date().addingTimeInterval(5)
        while !condition() {
            guard Date() < deadline else { return XCTFail("condition not reached", file: file, line: line) }
            _ = loop.runOnce(block: false)
            usleep(500)
        }
    }

    func testDatagramsWithTheirSenderAndAnEmptyOne() throws {
        let loop = try EventLoop()
        do {
            let any = try SocketAddress(ip: "127.0.0.1", port: 0)
            let receiver = try UDPSocket(loop: loop, binding: any)
            let sender = try UDPSocket(loop: loop, binding: any)
            XCTAssertNotEqual(receiver.address.port, 0, "the bound port is known")
            var got: [([UInt8], SocketAddress)] = []
            try receiver.startReceiving { buffer, from in
                got.append((buffer.bytes, from))
                loop.buffers.give(buffer)
            }
            var completions: [UVError?] = []
            for payload in [[UInt8](repeating: 7, count: 65_507), []] {
                let buffer = loop.buffers.take()
                buffer.append(payload)
                sender.send(buffer, to: receiver.address) { completions.append($0) }
            }
            spin(loop) { got.count == 2 }
            XCTAssertEqual(got.map(\.0), [[UInt8](repeating: 7, count: 65_507), []])
            XCTAssertEqual(got.map(\.1), [sender.address, sender.address])
            spin(loop) { completions.count == 2 }
            XCTAssertEqual(completions.compactMap { $0 }.count, 0)
            XCTAssertEqual(sender.pendingSends, 0)
            receiver.close()
            sender.close()
        }
        loop.closeAfterRunning()
        XCTAssertEqual(loop.buffers.outstanding, 0)
    }

    func testRefusedBindThrowsAndLeavesTheLoopIntact() throws {
        let loop = try EventLoop()
        do {
            let first = try UDPSocket(loop: loop, binding: SocketAddress(ip: "127.0.0.1", port: 0))
            XCTAssertThrowsError(try UDPSocket(loop: loop, binding: first.address)) { error in
                XCTAssertTrue("\(error)".contains("bind UDP 127.0.0.1:\(first.address.port)"), "\(error)")
            }
            // A send on a closed socket completes with ECANCELED and gives its buffer back.
            first.close()
            var completion: UVError??
            first.send(loop.buffers.take(), to: first.address) { completion = .some($0) }
            XCTAssertEqual(completion??.isCancelled, true)
        }
        loop.closeAfterRunning()
        XCTAssertEqual(loop.buffers.outstanding, 0)
    }
}
