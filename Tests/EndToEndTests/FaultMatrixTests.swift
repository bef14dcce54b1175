import Foundation
import XCTest

/// The fault matrix, gateway side: a hostile gateway (Tests/Peers/hostile_gateway.py)
/// behind one route of a two-route uvtunnel, while the other route carries a
/// transfer through the bundled gateway. Each case checks the affected tunnel
/// ends with the line named here and `FaultRig.exercise` checks the rest.
final class FaultMatrixTests: XCTestCase {
    /// uvtunnel with its faulty route pointed at a hostile gateway in `mode`.
    private func hostile(_ mode: String) throws -> (FaultRig, HostilePeer) {
        let rig = try FaultRig()
        let peer = try HostilePeer.gateway(mode, certificateFrom: rig.gateway)
        rig.keep(peer)
        try rig.start(.init(gatewayPort: peer.port))
        return (rig, peer)
    }

    /// A local client that sends a little and must be closed, not left hanging.
    private func clientIsClosed(_ port: UInt16, within seconds: TimeInterval = 10) throws {
        let socket = try TestSocket.connect(port: port)
        try? socket.send(Array("early bytes".utf8))  // a fast failure may close it first
        XCTAssertTrue(socket.waitForClose(timeout: seconds), "the local client was not closed")
    }

    func testGatewayRefusesTheConnection() throws {
        let rig = try FaultRig()
        let closed = try freeLoopbackPort()
        try rig.start(.init(gatewayPort: closed))
        try rig.exercise(expecting: ["failed 127.0.0.1:9: cannot reach gateway 127.0.0.1:\(closed)", "connection refused"]) {
            try clientIsClosed(rig.faultyPort)
        }
    }

    func testGatewayAcceptsAndNeverAnswers() throws {
        let (rig, peer) = try hostile("silent")
        try rig.exercise(expecting: ["failed 127.0.0.1:9: timed out after 2.0s in the TLS handshake with gateway 127.0.0.1:\(peer.port) (raise connect-timeout in the config file)"]) {
            try clientIsClosed(rig.faultyPort)
        }
    }

    func testGatewayResetsDuringTheHandshake() throws {
        let (rig, peer) = try hostile("reset-tls")
        try rig.exercise(expecting: ["failed 127.0.0.1:9: gateway 127.0.0.1:\(peer.port): TLS handshake failed: read: connection reset by peer"]) {
            try clientIsClosed(rig.faultyPort)
        }
    }

    func testGatewaySendsATLSAlert() throws {
        let (rig, peer) = try hostile("tls-alert")
        try rig.exercise(expecting: ["failed 127.0.0.1:9: gateway 127.0.0.1:\(peer.port): TLS handshake failed: sslv3 alert handshake failure"]) {
            try clientIsClosed(rig.faultyPort)
        }
    }

    func testGatewaySendsGarbageInsteadOfHTTP() throws {
        let (rig, _) = try hostile("garbage")
        try rig.exercise(expecting: ["failed 127.0.0.1:9: gateway sent an invalid response: expected \"HTTP/1.1 <status>\", got \"SSH-2.0-OpenSSH"]) {
            try clientIsClosed(rig.faultyPort)
        }
    }

    func testGatewaySendsAOneMebibyteHead() throws {
        let (rig, _) = try hostile("huge-head")
        try rig.exercise(expecting: ["failed 127.0.0.1:9: gateway sent an invalid response: response head larger than 16384 bytes"]) {
            try clientIsClosed(rig.faultyPort)
        }
    }

    func testGatewayTricklesItsHeadOneBytePerSecond() throws {
        let (rig, peer) = try hostile("trickle")
        try rig.exercise(expecting: ["failed 127.0.0.1:9: timed out after 2.0s waiting for gateway 127.0.0.1:\(peer.port) to answer CONNECT 127.0.0.1:9 (raise connect-timeout in the config file)"]) {
            try clientIsClosed(rig.faultyPort)
        }
    }

    func testGatewayClosesInTheMiddleOfTheHead() throws {
        let (rig, _) = try hostile("close-mid-head")
        try rig.exercise(expecting: ["failed 127.0.0.1:9: gateway closed the connection after 51 bytes, before the end of the response head"]) {
            try clientIsClosed(rig.faultyPort)
        }
    }

    func testGatewayResetsInTheMiddleOfTheRelay() throws {
        let (rig, _) = try hostile("close-mid-relay")
        // The reset may be found by the read of the gateway socket or by the
        // write of the client's next bytes to it (whichever the loop does
        // first; relayed bytes are written at once, uv_try_write): either names it.
        try rig.exercise(expecting: ["disconnected 127.0.0.1:9: ", "connection reset by peer"]) {
            // The hostile gateway echoes 64 KiB, then resets: every byte before
            // the reset arrives, then the local client is closed.
            let socket = try TestSocket.connect(port: rig.faultyPort)
            var sent: [UInt8] = [], received: [UInt8] = []
            while true {
                let chunk = randomBytes(16_384)
                guard (try? socket.send(chunk)) != nil else { break }
                sent += chunk
                guard let back = try? socket.receive(), !back.isEmpty else { break }
                received += back
            }
            XCTAssertGreaterThanOrEqual(received.count, 65_536)
            XCTAssert(received == Array(sent.prefix(received.count)), "relayed bytes differ")
        }
    }

    func testGatewayAnswers200ThenNeverReads() throws {
        let (rig, peer) = try hostile("stall")
        var socket: TestSocket?
        try rig.exercise(expecting: ["disconnected 127.0.0.1:9: ", "connection reset by peer"]) {
            socket = try TestSocket.connect(port: rig.faultyPort)
            // Backpressure: once the kernel buffers on the way are full, uvtunnel
            // stops reading the local side, so the push stalls far short of
            // 200 MiB and uvtunnel's RSS stays flat (checked by the rig).
            let pushed = socket!.push(total: 200 << 20, stall: 2)
            print("pushed \(pushed >> 20) MiB of 200 MiB before the push stalled")
            XCTAssertLessThan(pushed, 64 << 20, "uvtunnel kept reading a tunnel whose gateway never reads")
            XCTAssertGreaterThan(pushed, 0)
            // Only the gateway can end this tunnel: it goes away, with our bytes unread (a reset).
            peer.stop()
        } release: {
            socket = nil
        }
    }
}
