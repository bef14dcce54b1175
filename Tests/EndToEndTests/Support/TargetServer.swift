import Foundation
import Glibc

/// A real TCP server on 127.0.0.1 that the gateway dials: each accepted
/// connection is served on its own thread by `behaviour`.
final class TargetServer: @unchecked Sendable {
    enum Behaviour: Sendable {
        /// Echo everything; at EOF, half-close back.
        case echo
        /// Send `greeting` first, then echo.
        case speakFirst([UInt8])
        /// Read until EOF, then answer "got N bytes" and close.
        case answerAfterEOF
        /// Read `count` bytes, wait for `gate` to open, send them back, then echo.
        case heldEcho(count: Int, gate: EchoGate)
    }

    let port: UInt16
    private let listenFD: Int32
    private let behaviour: Behaviour
    private let lock = NSLock()
    private var accepted = 0
    private var stopped = false

    init(_ behaviour: Behaviour) throws {
        self.behaviour = behaviour
        let listenFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listenFD = listenFD
        var one: Int32 = 1
        setsockopt(listenFD, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(listenFD, 1024) == 0 else { throw TestError("target bind/listen: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listenFD, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        startAccepting()
    }

    private func startAccepting() {
        let thread = Thread { [self] in acceptLoop() }
        thread.stackSize = 1 << 20
        thread.start()
    }

    var acceptedCount: Int { lock.withLock { accepted } }

    private func acceptLoop() {
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if lock.withLock({ stopped }) { return }
                if errno == EINTR { continue }
                return
            }
            lock.withLock { accepted += 1 }
            let connection = TestSocket(fd: fd)
            connection.setTimeout(60)
            let behaviour = self.behaviour
            let thread = Thread { TargetServer.serve(connection, behaviour) }
            thread.stackSize = 256 << 10
            thread.start()
        }
    }

    private static func serve(_ connection: TestSocket, _ behaviour: Behaviour) {
        do {
            switch behaviour {
            case .echo:
                try echo(connection)
            case .speakFirst(let greeting):
                try connection.send(greeting)
                try echo(connection)
            case .answerAfterEOF:
                let all = try connection.receiveAll()
                try connection.send(Array("got \(all.count) bytes".utf8))
            case .heldEcho(let count, let gate):
                let held = try connection.receive(exactly: count)
                gate.arriveAndWait()
                try connection.send(held)
                gate.sent()
                try echo(connection)
            }
        } catch {}
    }

    private static func echo(_ connection: TestSocket) throws {
        while true {
            let chunk = try connection.receive()
            if chunk.isEmpty { break }
            try connection.send(chunk)
        }
        connection.shutdownWrite()
        _ = try? connection.receive()  // keep the socket until the peer is done
    }

    /// Idempotent: `deinit` calls it again after an explicit stop, and a
    /// second close could hit a descriptor number reused meanwhile (another
    /// fixture's pipe, which then crashed Foundation's reader).
    func stop() {
        let first = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        Glibc.shutdown(listenFD, Int32(SHUT_RDWR))
        Glibc.close(listenFD)
    }

    deinit { stop() }
}

/// Lines up the answers of many `heldEcho` targets: each waits, holding what
/// it read, until the test opens the gate, so a test can have them all reach
/// their peer at once (while it is stopped).
final class EchoGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpen = false
    private var waiting = 0
    private var sentCount = 0

    func arriveAndWait() {
        condition.withLock {
            waiting += 1
            condition.broadcast()
            while !isOpen { condition.wait() }
        }
    }

    func sent() {
        condition.withLock {
            sentCount += 1
            condition.broadcast()
        }
    }

    func open() { condition.withLock { isOpen = true; condition.broadcast() } }

    /// Waits until `count` targets hold their bytes (false on timeout).
    func waitForArrivals(_ count: Int, timeout: TimeInterval = 30) -> Bool { wait(timeout) { waiting >= count } }

    /// Waits until `count` targets have sent theirs back (false on timeout).
    func waitForSent(_ count: Int, timeout: TimeInterval = 30) -> Bool { wait(timeout) { sentCount >= count } }

    private func wait(_ timeout: TimeInterval, until done: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        return condition.withLock {
            while !done() { if !condition.wait(until: deadline) { return done() } }
            return true
        }
    }
}
