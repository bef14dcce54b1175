import Foundation
import XCTest

/// Everything one pipe of a child delivered, read by a thread of its own
/// until EOF. The thread holds the pipe and this box strongly, so no byte is
/// read and then dropped: Foundation's `readabilityHandler` (used before) can
/// outlive its owner, and a stale handler on a descriptor number that a later
/// child's pipe reuses read that child's output into nothing (a gateway log
/// that came out empty under ASan in CI).
///
/// Every look at the text first drains what the pipe holds at that moment,
/// so it includes every line the child wrote before the test saw one of its
/// effects. Left to the thread alone, a loaded machine let a test read the
/// log before the thread had: 42 of 43 "connected" lines, though uvtunnel had
/// flushed the 43rd before relaying the datagram the test had just got back.
final class PipeReader: @unchecked Sendable {
    private let lock = NSLock()
    private let fd: Int32
    private var chunk = [UInt8](repeating: 0, count: 65_536)
    private var bytes = Data()
    private var decoded: String?  // cached: tests poll the text every 20 ms
    private var ended = false

    init(_ pipe: Pipe, name: String) {
        fd = pipe.fileHandleForReading.fileDescriptor
        // Non-blocking, so a drain under the lock never waits for the child.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let thread = Thread { [self] in
            while true {
                var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let polled = poll(&ready, 1, -1)
                if polled < 0 && errno == EINTR { continue }
                if polled < 0 || lock.withLock({ drainLocked() }) { break }
            }
            // After a poll error too: whatever the pipe still holds is kept.
            lock.withLock { _ = drainLocked(); ended = true }
            withExtendedLifetime(pipe) {}
        }
        thread.name = name
        thread.start()
    }

    /// Reads all the pipe holds now; true once it has given EOF (or failed).
    /// Called with the lock held, by the thread and by every look.
    private func drainLocked() -> Bool {
        while !ended {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes.append(contentsOf: chunk[0..<count])
                decoded = nil
            } else if count < 0 && errno == EINTR {
                continue
            } else if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return false
            } else {
                ended = true
            }
        }
        return true
    }

    var text: String {
        lock.withLock {
            _ = drainLocked()
            if let decoded { return decoded }
            let text = String(decoding: bytes, as: UTF8.self)
            decoded = text
            return text
        }
    }
    /// The bytes as they came (the text form replaces invalid UTF-8).
    var data: [UInt8] { lock.withLock { _ = drainLocked(); return [UInt8](bytes) } }
    var hasEnded: Bool { lock.withLock { drainLocked() } }
}

/// A program started by a test, with its stderr (and optionally stdout)
/// collected, stopped by PID when the test ends.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    let stdinPipe = Pipe()
    private let captureStdout: Bool
    private var readers: [PipeReader] = []

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], captureStdout: Bool = true) throws {
        self.captureStdout = captureStdout
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LOG_LEVEL"] = env["LOG_LEVEL"] ?? "debug"
        // uvtunnel honours these: a developer's own proxy must not reroute the
        // tests (egress proxy tests set them explicitly).
        for name in ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"] { env[name] = nil }
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardInput = stdinPipe
        process.standardError = stderrPipe
        if captureStdout { process.standardOutput = stdoutPipe }
        try process.run()
        // Readers start after run(): Process closes the child's ends in the
        // parent then, so EOF comes when the child (and its children) exit.
        let program = URL(fileURLWithPath: executable).lastPathComponent
        readers.append(PipeReader(stderrPipe, name: "\(program) stderr"))
        if captureStdout { readers.append(PipeReader(stdoutPipe, name: "\(program) stdout")) }
    }

    var stderr: String { readers[0].text }
    var stdout: String { captureStdout ? readers[1].text : "" }
    var stdoutBytes: [UInt8] { captureStdout ? readers[1].data : [] }

    /// Waits until `predicate` holds for stderr+stdout, or fails after `timeout`.
    @discardableResult
    func waitForOutput(timeout: TimeInterval = 20, file: StaticString = #filePath, line: UInt = #line,
                       _ predicate: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if predicate(stderr + stdout) { return true }
            if !process.isRunning {
                Thread.sleep(forTimeInterval: 0.05)
                if predicate(stderr + stdout) { return true }
                XCTFail("process exited (\(process.terminationStatus)) before expected output; stderr:\n\(stderr)", file: file, line: line)
                return false
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTFail("timed out waiting for output; stderr:\n\(stderr)\nstdout:\n\(stdout)", file: file, line: line)
        return false
    }

    /// Finds "listening on HOST:PORT" in the output and returns the port.
    func listeningPort(file: StaticString = #filePath, line: UInt = #line) -> UInt16? {
        var port: UInt16?
        waitForOutput(file: file, line: line) { text in
            guard let range = text.range(of: "listening on ") else { return false }
            let rest = text[range.upperBound...]
            guard let end = rest.firstIndex(where: { $0 == "," || $0 == "\n" || $0 == " " }) else { return false }
            let address = rest[..<end]
            guard let colon = address.lastIndex(of: ":") else { return false }
            port = UInt16(address[address.index(after: colon)...])
            return port != nil
        }
        return port
    }

    /// Waits for exit; returns the status, or nil after `timeout`.
    func waitForExit(timeout: TimeInterval = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        guard !process.isRunning else { return nil }
        // Let the pipes drain to their EOF: the output is complete only then.
        // A fixed 50 ms here lost a short stdout on a loaded machine (under
        // TSan), so `GatewayFixture.token()` could return "" and
        // `pythonCacheFileName` a wrong name. A grandchild that keeps the pipe
        // open (a browser opener) never gives EOF: bounded (2 s).
        let drained = Date().addingTimeInterval(2)
        while !readers.allSatisfy(\.hasEnded) && Date() < drained { Thread.sleep(forTimeInterval: 0.01) }
        return process.terminationStatus
    }

    func signal(_ signum: Int32) { kill(process.processIdentifier, signum) }

    func stop() {
        if process.isRunning {
            process.terminate()
            if waitForExit(timeout: 5) == nil { kill(process.processIdentifier, SIGKILL) }
        }
    }

    deinit { stop() }
}
