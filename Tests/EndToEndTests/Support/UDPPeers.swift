import Foundation
import XCTest

/// A UDP echo on 127.0.0.1 (python): prints its port, then answers every
/// datagram to its sender.
final class UDPEcho {
    private static let script = """
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1], flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)
    """

    let process: ChildProcess
    let port: UInt16

    init() throws {
        process = try ChildProcess("/usr/bin/env", ["python3", "-c", Self.script])
        var port: UInt16?
        process.waitForOutput { text in
            port = UInt16(text.trimmingCharacters(in: .whitespacesAndNewlines))
            return port != nil
        }
        guard let port else { throw TestError("UDP echo did not start: \(process.stderr)") }
        self.port = port
    }

    func stop() { process.stop() }

    deinit { process.stop() }
}

/// Sends one datagram of each size from its own socket (one client address
/// each, all at once) to `port` on 127.0.0.1, waits up to `seconds` for the
/// echoes, and returns one line per size: "SIZE ok" or why not.
func udpExchange(port: UInt16, sizes: [Int], wait seconds: Int = 30) throws -> [String] {
    let script = """
    import os, resource, socket, sys, time
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = int(sys.argv[1]); sizes = [int(n) for n in sys.argv[2].split(",")]
    socks = []
    for n in sizes:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(("127.0.0.1", 0)); socks.append((s, os.urandom(n)))
    for s, d in socks: s.sendto(d, ("127.0.0.1", port))
    deadline = time.time() + float(sys.argv[3])
    for (s, d), n in zip(socks, sizes):
        s.settimeout(max(0.1, deadline - time.time()))
        try:
            got, _ = s.recvfrom(70000)
            print(n, "ok" if got == d else "differs (%d bytes back)" % len(got))
        except socket.timeout:
            print(n, "timed out")
    """
    let run = try ChildProcess("/usr/bin/env", ["python3", "-c", script, String(port), sizes.map(String.init).joined(separator: ","),
                                                String(seconds)])
    XCTAssertEqual(run.waitForExit(timeout: TimeInterval(seconds + 30)), 0, run.stderr)
    return run.stdout.split(separator: "\n").map(String.init)
}
