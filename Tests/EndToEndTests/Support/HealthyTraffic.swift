import Foundation

/// A transfer kept going on a healthy route while a fault hits another one:
/// one tunnel through an echo target, random chunks sent and checked byte for
/// byte, paced (a chunk every 20 ms) so it proves liveness without loading
/// the 2-core machine or hiding a busy loop in uvtunnel's CPU time.
final class HealthyTraffic: @unchecked Sendable {
    private let socket: TestSocket
    private let lock = NSLock()
    private var echoed = 0
    private var failure: String?
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)

    init(port: UInt16) throws {
        socket = try TestSocket.connect(port: port, timeout: 30)
        let thread = Thread { [self] in run() }
        thread.start()
    }

    /// Bytes echoed back intact so far.
    var bytes: Int { lock.withLock { echoed } }

    private func run() {
        defer { done.signal() }
        while !lock.withLock({ stopping }) {
            let chunk = randomBytes(Int.random(in: 1...16_384))
            do {
                try socket.send(chunk)
                let back = try socket.receive(exactly: chunk.count)
                guard back == chunk else {
                    lock.withLock { failure = "echo differs after \(echoed) bytes" }
                    return
                }
                lock.withLock { echoed += chunk.count }
            } catch {
                lock.withLock { failure = "healthy tunnel broke after \(echoed) bytes: \(error)" }
                return
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Waits until at least `more` further bytes have gone through (the route
    /// is flowing now, not merely earlier); false after `timeout`.
    func flows(more: Int = 50_000, timeout: TimeInterval = 20) -> Bool {
        let target = bytes + more
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if bytes >= target { return true }
            if lock.withLock({ failure != nil }) { return false }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    /// Stops, half-closes, and checks the tunnel ends cleanly; returns what
    /// went wrong, or nil.
    func stop() -> String? {
        lock.withLock { stopping = true }
        done.wait()
        if let failure = lock.withLock({ failure }) { return failure }
        socket.shutdownWrite()
        do {
            let rest = try socket.receiveAll()
            return rest.isEmpty ? nil : "\(rest.count) unexpected bytes after the last echo"
        } catch {
            return "no clean end after half-close: \(error)"
        }
    }
}
