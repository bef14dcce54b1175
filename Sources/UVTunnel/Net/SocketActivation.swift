import Foundation

/// systemd socket activation: a `.socket` unit starts us on the first
/// connection and passes the listening socket as fd 3, announced by
/// `LISTEN_PID` (must be us) and `LISTEN_FDS`.
public enum SocketActivation {
    /// The first passed descriptor (`SD_LISTEN_FDS_START`).
    public static let firstFD: Int32 = 3

    /// The passed listening sockets, if systemd (or a stand-in) passed any to
    /// this process. The variables are removed so children do not inherit them.
    public static func takeListeners(environment: [String: String] = ProcessInfo.processInfo.environment) -> [Int32] {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pid = environment["LISTEN_PID"].flatMap({ Int32($0) }), pid == getpid(),
              let count = environment["LISTEN_FDS"].flatMap({ Int32($0) }), count > 0, count < 64 else { return [] }
        return (0..<count).map { firstFD + $0 }
    }
}
