import Foundation
import XCTest

/// A third-party HTTP/2 CONNECT gateway: Debian's nghttpx in `--http2-proxy`
/// mode on a free loopback port, turning each stream's CONNECT into an
/// HTTP/1.1 CONNECT to `backend` (a squid with a plain http_port), which
/// reaches the target. TLS with the given certificate; no token check.
/// Its log goes to a file, not a pipe: nghttpx's worker process inherits
/// the descriptors, and a pipe watched by Foundation outliving the master
/// crashed the test runner at teardown.
final class NghttpxProxy {
    let port: UInt16
    private let process = Process()
    private let directory = TemporaryDirectory()
    private var stopped = false

    init(certificate: String, key: String, backend: EgressSquid) throws {
        let executable = "/usr/sbin/nghttpx"
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw TestError("install nghttp2-proxy (see .ci/setup)")
        }
        let probe = try TargetServer(.echo)
        port = probe.port
        probe.stop()
        let logPath = directory.path + "/nghttpx.log"
        try writeFile(logPath, "")
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--http2-proxy", "--frontend=127.0.0.1,\(port)", "--backend=127.0.0.1,\(backend.port)",
            // Each tunnel holds its own squid connection: the default of 8 would queue the rest.
            "--backend-connections-per-host=1000",
            "--no-ocsp", "--conf=/dev/null", "--workers=1", key, certificate,
        ]
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? TestSocket.connect(port: port, timeout: 1)) != nil { return }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        stop()
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw TestError("nghttpx did not start on \(port): \(text)")
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit { stop() }
}
