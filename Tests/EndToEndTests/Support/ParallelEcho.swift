import Foundation
import XCTest

/// Opens `count` connections to `port` all at once, then sends each its own
/// random payload (`size(i)` bytes), half-closes, and reads the echo to EOF.
/// Returns one line per tunnel whose echo was not byte-exact (empty: all were).
func parallelEchoFailures(port: UInt16, count: Int, size: (Int) -> Int = { 32 * 1024 + $0 * 97 },
                          timeout: TimeInterval = 120) throws -> [String] {
    let results = ResultsBox(count: count)
    let sockets = try (0..<count).map { _ in try TestSocket.connect(port: port, timeout: 60) }
    let group = DispatchGroup()
    for (i, socket) in sockets.enumerated() {
        let payload = randomBytes(size(i))
        group.enter()
        Thread {
            try? socket.send(payload)
            socket.shutdownWrite()
        }.start()
        Thread {
            do {
                let echoed = try socket.receiveAll()
                results.set(i, echoed == payload ? nil : "tunnel \(i): \(echoed.count) of \(payload.count) bytes, content differs")
            } catch {
                results.set(i, "tunnel \(i): \(error)")
            }
            group.leave()
        }.start()
    }
    guard group.wait(timeout: .now() + timeout) == .success else { return ["timed out after \(timeout) s"] }
    return results.failures
}
