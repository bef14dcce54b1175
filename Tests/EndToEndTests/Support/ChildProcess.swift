import Foundation
import XCTest

/// A program started by a test, with its stderr (and optionally stdout)
/// collected, stopped by PID when the test ends.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var stderrText = ""
    private var stdoutText = ""
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    let stdinPipe = Pipe()
    private let captureStdout: Bool
    /// Pipes whose end (EOF) has been read: every byte the child wrote is in the text.
    private var pipesEnded = 0

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
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.withLock {
                if data.isEmpty { self.endPipe(handle) } else { self.stderrText += String(decoding: data, as: UTF8.self) }
            }
        }
        if captureStdout {
            stdoutPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self else { return }
                self.lock.withLock {
                    if data.isEmpty { self.endPipe(handle) } else { self.stdoutText += String(decoding: data, as: UTF8.self) }
                }
            }
        }
        try process.run()
    }

    /// Under `lock`: EOF on one pipe; its handler is dropped so it is counted once.
    private func endPipe(_ handle: FileHandle) {
        handle.readabilityHandler = nil
        pipesEnded += 1
    }

    var stderr: String { lock.withLock { stderrText } }
    var stdout: String { lock.withLock { stdoutText } }

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
        let pipes = captureStdout ? 2 : 1
        let drained = Date().addingTimeInterval(2)
        while lock.withLock({ pipesEnded < pipes }) && Date() < drained { Thread.sleep(forTimeInterval: 0.01) }
        return process.terminationStatus
    }

    func signal(_ signum: Int32) { kill(process.processIdentifier, signum) }

    func stop() {
        if process.isRunning {
            process.terminate()
            if waitForExit(timeout: 5) == nil { kill(process.processIdentifier, SIGKILL) }
        }
        stderrPipe.fileHandleForReading.readabilityHandler = nil
        if captureStdout { stdoutPipe.fileHandleForReading.readabilityHandler = nil }
    }

    deinit { stop() }
}
