import Foundation
import Glibc

/// Descriptors this process was started with beyond stdin/stdout/stderr (a
/// socket systemd or a `--workers` parent passed, or one its launcher leaked)
/// are marked close-on-exec, so no program uvtunnel starts keeps them. That
/// matters most for a browser opener, which is left running after uvtunnel
/// exits: holding a passed listening socket it would keep the port bound, and
/// holding a launcher's pipe or socket it would make uvtunnel look alive.
/// uvtunnel itself keeps using them (close-on-exec changes nothing until an
/// exec), and a worker still gets its sockets: libuv hands them over by dup2.
enum InheritedDescriptors {
    static func markCloseOnExec() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for fd in names.compactMap({ Int32($0) }) where fd > 2 {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }
}
