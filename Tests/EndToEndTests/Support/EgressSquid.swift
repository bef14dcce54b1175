import Foundation
import XCTest

/// squid as a corporate egress proxy: a plain `http_port` on a free loopback
/// port that allows CONNECT to loopback destinations only (any port), with
/// an optional Basic login; tests read its access.log to see which CONNECTs
/// went through it. Started with a throw-away config, stopped by PID.
final class EgressSquid {
    let port: UInt16
    private let directory: String
    private let process: ChildProcess

    init(login: (user: String, password: String)? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: SquidProcess.executable) else {
            throw TestError("install squid-openssl (see .ci/setup)")
        }
        directory = NSTemporaryDirectory() + "uvtunnel-egress-squid-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // squid drops to user `proxy`: it must write its logs here.
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory)
        let probe = try TargetServer(.echo)
        port = probe.port
        probe.stop()

        var access = "http_access allow CONNECT SSL_ports to_loopback"
        var authentication = ""
        if let login {
            let passwords = directory + "/passwords"
            try "\(login.user):\(try Self.md5Crypt(login.password))\n".write(toFile: passwords, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: passwords)
            authentication = """
            auth_param basic program /usr/lib/squid/basic_ncsa_auth \(passwords)
            auth_param basic realm uvtunnel-test
            acl logged_in proxy_auth REQUIRED
            """
            access += " logged_in"
        }
        let config = """
        http_port 127.0.0.1:\(port)
        \(SquidProcess.commonConfig(directory: directory))
        shutdown_lifetime 0 seconds
        \(authentication)
        acl SSL_ports port 1-65535
        acl CONNECT method CONNECT
        acl to_loopback dst 127.0.0.1 ::1
        \(access)
        http_access deny all
        """
        process = try SquidProcess.start(config: config, directory: directory, port: port)
    }

    var proxyURL: String { "http://127.0.0.1:\(port)" }

    /// access.log lines for CONNECTs to `authority` (squid writes one when a tunnel ends).
    func connectLines(to authority: String) -> [String] {
        let log = (try? String(contentsOfFile: directory + "/access.log", encoding: .utf8)) ?? ""
        return log.split(separator: "\n").map(String.init).filter { $0.contains(" CONNECT \(authority) ") }
    }

    /// Waits until at least `count` such lines are written; returns them all.
    @discardableResult
    func waitForConnectLines(to authority: String, count: Int, timeout: TimeInterval = 20) -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let lines = connectLines(to: authority)
            if lines.count >= count { return lines }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return connectLines(to: authority)
    }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    /// A `$1$` (MD5-crypt) hash that basic_ncsa_auth checks, made by openssl.
    private static func md5Crypt(_ password: String) throws -> String {
        let openssl = try ChildProcess("/usr/bin/openssl", ["passwd", "-1", password])
        guard openssl.waitForExit() == 0 else { throw TestError("openssl passwd failed: \(openssl.stderr)") }
        return openssl.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
