import Foundation
import XCTest

/// The fault matrix, sign-in side: a gateway that answers CONNECT with 302
/// (sign in) and whose `/.pomerium/api/v1/login` endpoint misbehaves. The
/// connections waiting for that sign-in must all be closed, each with a line
/// that names the login failure; one sign-in serves them all.
final class FaultMatrixSignInTests: XCTestCase {
    private let waiting = 3

    private func check(_ mode: String, failure: [String], timeout: TimeInterval = 30) throws {
        let rig = try FaultRig()
        let peer = try HostilePeer.gateway(mode, certificateFrom: rig.gateway)
        rig.keep(peer)
        try rig.start(.init(gatewayPort: peer.port, signIn: true))
        let refusal = ["refused 127.0.0.1:9: sign-in: the gateway's login endpoint "] + failure
        // The sign-in thread's loop takes one descriptor for good the first time
        // it listens (libuv's reserve for EMFILE, a /dev/null): a first failed
        // sign-in before the baseline, so the case measures a repeated one.
        let warmUp = {
            let socket = try TestSocket.connect(port: rig.faultyPort)
            XCTAssertTrue(socket.waitForClose(timeout: timeout))
        }
        try rig.exercise(expecting: refusal, timeout: timeout, warmUp: warmUp) {
            let sockets = try (0..<waiting).map { _ in try TestSocket.connect(port: rig.faultyPort) }
            for socket in sockets {
                try socket.send(Array("bytes held during sign-in".utf8))
            }
            for socket in sockets {
                XCTAssertTrue(socket.waitForClose(timeout: timeout), "a waiting connection was left open")
            }
        }
        let log = rig.tunnel.stderr
        let refusals = log.split(separator: "\n").filter { line in refusal.allSatisfy { line.contains($0) } }
        XCTAssertEqual(refusals.count, 1 + waiting, "one line per waiting connection:\n\(log)")
        XCTAssertEqual(log.components(separatedBy: "auth required: signing in to 127.0.0.1:\(peer.port)").count - 1, 2,
                       "one sign-in for the warm-up, one for all the waiting connections")
    }

    func testLoginEndpointHangs() throws {
        // The login call's own 10 s bound ends it, well inside --auth-timeout (60 s here).
        try check("login-hang", failure: ["failed: GET https://127.0.0.1:", "timed out after 10s"], timeout: 40)
    }

    func testLoginEndpointReturnsGarbage() throws {
        try check("login-garbage", failure: ["failed: GET https://127.0.0.1:", "gateway sent an invalid response"])
    }

    func testLoginEndpointReturns500() throws {
        try check("login-500", failure: ["answered 500 \"Internal Server Error\""])
    }
}
