import Foundation
import XCTest

/// The fault matrix, target and local-client side: the bundled gateway is
/// healthy, the misbehaving party is the service behind it
/// (Tests/Peers/hostile_target.py) or the local client itself.
final class FaultMatrixPeerTests: XCTestCase {
    /// uvtunnel whose faulty route reaches `destination` through the healthy gateway.
    private func makeRig(to destination: String) throws -> FaultRig {
        let rig = try FaultRig()
        try rig.start(.init(destination: destination))
        return rig
    }

    // MARK: Targets

    func testTargetResets() throws {
        let target = try HostilePeer.target("reset")
        let rig = try makeRig(to: "127.0.0.1:\(target.port)")
        try rig.exercise(expecting: ["disconnected 127.0.0.1:\(target.port): "]) {
            // The target echoes 64 KiB, then resets; the gateway ends its side,
            // and the local client sees its tunnel end. A reset may discard bytes
            // still queued on the way (TCP's abort semantics, in the target's and
            // the gateway's kernels), so what arrives must be an exact prefix.
            let socket = try TestSocket.connect(port: rig.faultyPort)
            let payload = randomBytes(65_536)
            try socket.send(payload)
            socket.setTimeout(10)
            var received: [UInt8] = []
            while let chunk = try? socket.receive(), !chunk.isEmpty { received += chunk }
            XCTAssert(received == Array(payload.prefix(received.count)), "the echo before the reset differs")
            XCTAssertTrue(socket.waitForClose(timeout: 1), "the tunnel did not end")
        }
    }

    func testTargetNeverReads() throws {
        let target = try HostilePeer.target("noread")
        let rig = try makeRig(to: "127.0.0.1:\(target.port)")
        var socket: TestSocket?
        try rig.exercise(expecting: ["disconnected 127.0.0.1:\(target.port): "]) {
            socket = try TestSocket.connect(port: rig.faultyPort)
            // Backpressure across gateway and uvtunnel: the push stalls, RSS stays flat.
            let pushed = socket!.push(total: 200 << 20, stall: 2)
            print("pushed \(pushed >> 20) MiB of 200 MiB before the push stalled")
            XCTAssertLessThan(pushed, 64 << 20, "something kept reading for a target that never reads")
            XCTAssertGreaterThan(pushed, 0)
            target.stop()  // the target goes away with our bytes unread
        } release: {
            socket = nil
        }
    }

    /// A client that leaves while its tunnel is stalled on a target that
    /// never reads: uvtunnel has stopped reading the client (backpressure), so
    /// only the paused-source check can see it go. The target greets first and
    /// the client never reads the greeting, so its close (or its death) is a
    /// reset, as the kernel sends for a socket closed with unread data.
    func testClientLeavesWhileStalledOnATargetThatNeverReads() throws {
        let target = try HostilePeer.target("greet")
        let rig = try makeRig(to: "127.0.0.1:\(target.port)")
        try rig.exercise(expecting: [" info ", "disconnected 127.0.0.1:\(target.port): ", "(the local client left first)"]) {
            var socket: TestSocket? = try TestSocket.connect(port: rig.faultyPort)
            let pushed = socket!.push(total: 200 << 20, stall: 2)
            XCTAssertLessThan(pushed, 64 << 20, "something kept reading for a target that never reads")
            socket = nil  // a plain close, with the greeting unread
        }
    }

    /// The same with a client process killed while it pushes.
    func testClientKilledWhileStalledOnATargetThatNeverReads() throws {
        let target = try HostilePeer.target("greet")
        let rig = try makeRig(to: "127.0.0.1:\(target.port)")
        try rig.exercise(expecting: [" info ", "disconnected 127.0.0.1:\(target.port): ", "(the local client left first)"]) {
            let client = try ChildProcess("/usr/bin/env", ["python3", "-c", """
                import select, socket, sys, time
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                s.setblocking(False)
                chunk = b"x" * 65536
                while select.select([], [s], [], 2)[1]:
                    s.send(chunk)
                print("stalled", flush=True)
                time.sleep(3600)
                """, "\(rig.faultyPort)"])
            client.waitForOutput(timeout: 60) { $0.contains("stalled") }
            client.signal(SIGKILL)
            XCTAssertNotNil(client.waitForExit(), "the client did not die")
        }
    }

    func testTargetNeverWrites() throws {
        let target = try HostilePeer.target("nowrite")
        let rig = try makeRig(to: "127.0.0.1:\(target.port)")
        try rig.exercise(expecting: ["disconnected 127.0.0.1:\(target.port): 1048576 bytes up, 0 bytes down"]) {
            let socket = try TestSocket.connect(port: rig.faultyPort)
            try socket.send(randomBytes(1 << 20))
            socket.shutdownWrite()
            // Half-closed and waiting for an answer that does not come: the
            // tunnel must stay open (the answer could still come), not time out.
            XCTAssertFalse(socket.waitForClose(timeout: 2), "the tunnel ended while the target could still answer")
            target.stop()  // the target closes without answering: now it ends
            socket.setTimeout(10)
            XCTAssertEqual(try socket.receiveAll(), [])
        }
    }

    // MARK: Local clients

    func testClientResetsMidTransfer() throws {
        let echo = try TargetServer(.echo)  // not the healthy route's target: the lines must differ
        let rig = try makeRig(to: "127.0.0.1:\(echo.port)")
        // A client that resets is a client that left: a normal end, said at info.
        try rig.exercise(expecting: [" info ", "disconnected 127.0.0.1:\(echo.port): ", "(the local client left first)"]) {
            var socket: TestSocket? = try TestSocket.connect(port: rig.faultyPort)
            let payload = randomBytes(256 * 1024)
            try socket!.send(Array(payload.prefix(65_536)))
            XCTAssert(try socket!.receive(exactly: 65_536) == Array(payload.prefix(65_536)))
            try socket!.send(Array(payload.dropFirst(65_536)))
            socket!.armReset()
            socket = nil  // RST with echoed bytes unread
        }
    }

    func testClientHalfClosesAndWaits() throws {
        let answering = try TargetServer(.answerAfterEOF)
        let rig = try makeRig(to: "127.0.0.1:\(answering.port)")
        try rig.exercise(expecting: ["disconnected 127.0.0.1:\(answering.port): 100000 bytes up, 16 bytes down"]) {
            let socket = try TestSocket.connect(port: rig.faultyPort)
            try socket.send(randomBytes(100_000))
            socket.shutdownWrite()
            // Reads nothing until the tunnel has carried the answer and ended
            // (its one line says so): the answer must wait for it, not be lost.
            rig.waitForLine(["disconnected 127.0.0.1:\(answering.port): 100000 bytes up, 16 bytes down"])
            XCTAssertEqual(String(decoding: try socket.receiveAll(), as: UTF8.self), "got 100000 bytes",
                           "the answer sent after the client's EOF arrives")
        }
    }

    func testClientDisappearsWithDataInFlight() throws {
        let echo = try TargetServer(.echo)
        let rig = try makeRig(to: "127.0.0.1:\(echo.port)")
        try rig.exercise(expecting: ["disconnected 127.0.0.1:\(echo.port): "]) {
            // 4 MiB in flight toward the echo target and back, then the client is
            // gone without reading a byte: uvtunnel's write to it fails.
            var socket: TestSocket? = try TestSocket.connect(port: rig.faultyPort)
            _ = socket!.push(total: 4 << 20, stall: 1)
            socket = nil
        }
    }
}
