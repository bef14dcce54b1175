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
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.stderrText += String(decoding: data, as: UTF8.self) }
        }
        if captureStdout {
            stdoutPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self, !data.isEmpty else { return }
                self.lock.withLock { self.stdoutText += String(decoding: data, as: UTF8.self) }
            }
        }
        try process.run()
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
        Thread.sleep(forTimeInterval: 0.05)  // let the pipes drain
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
