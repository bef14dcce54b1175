import Foundation

/// Debian's squid in the foreground on a throw-away config, for the tests
/// that put it in front of uvtunnel (an egress proxy) or behind it (a
/// gateway): the config lines every such squid shares, and the start.
enum SquidProcess {
    static let executable = "/usr/sbin/squid"

    /// Logs and pid file in `directory` (squid drops to user `proxy`: the
    /// directory must be writable by it), no DNS, no cache.
    static func commonConfig(directory: String) -> String {
        """
        pid_filename \(directory)/squid.pid
        access_log stdio:\(directory)/access.log
        cache_log \(directory)/cache.log
        coredump_dir \(directory)
        dns_nameservers 127.0.0.1
        visible_hostname localhost
        cache deny all
        """
    }

    /// Writes `config` to `directory`/squid.conf, starts squid on it and
    /// waits until it accepts on `port`; one that does not within 30 s is
    /// stopped, and the error carries its stderr and cache.log.
    static func start(config: String, directory: String, port: UInt16) throws -> ChildProcess {
        let configPath = directory + "/squid.conf"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let process = try ChildProcess(executable, ["-N", "-f", configPath])
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? TestSocket.connect(port: port, timeout: 1)) != nil { return process }
            guard process.process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let stderr = process.stderr
        process.stop()
        let log = (try? String(contentsOfFile: directory + "/cache.log", encoding: .utf8)) ?? ""
        throw TestError("squid did not start on \(port): \(stderr)\n\(log)")
    }
}
