import CShims
import Foundation
import Glibc

/// Owns one `uv_process_t`: starts a program without blocking the loop and
/// reaps it when it exits.
public final class ChildSpawner {
    /// What the child's stdin/stdout/stderr are.
    public enum Stdio {
        /// The browser opener: stdin is /dev/null and stdout goes to our stderr,
        /// so it can never write into a tunnel carried over our stdout (`--listen -`).
        case quiet
        /// `uvtunnel exec`: the client gets our terminal as it is.
        case inherit
    }

    private let handle: UnsafeMutablePointer<uv_process_t> = .allocate(capacity: 1)
    private var onExit: ((Int64, Int32) -> Void)?
    private var exited = false

    private init(onExit: @escaping (Int64, Int32) -> Void) {
        self.onExit = onExit
    }

    /// The child's process id (valid until it exits).
    public var pid: Int32 { handle.pointee.pid }

    /// Sends `signal` to the child unless it has already exited.
    public func kill(_ signal: Int32) {
        guard !exited else { return }
        uv_process_kill(handle, signal)
    }

    /// Starts `arguments[0]` (searched in PATH) with the rest as its argv, and
    /// `extraEnvironment` on top of ours. `passing` descriptors become the
    /// child's 3, 4, ... (listening sockets for `--workers`). `onExit` gets the
    /// exit status and the terminating signal (0 if none) once it ends.
    @discardableResult
    public static func spawn(_ arguments: [String], loop: EventLoop, stdio mode: Stdio = .quiet,
                             extraEnvironment: [String: String] = [:], passing: [Int32] = [],
                             onExit: @escaping (Int64, Int32) -> Void = { _, _ in }) throws(UVError) -> ChildSpawner {
        precondition(!arguments.isEmpty)
        let child = ChildSpawner(onExit: onExit)
        let cStrings = arguments.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        var argv = cStrings + [nil]
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extraEnvironment { environment[key] = value }
        let envStrings = environment.map { strdup("\($0.key)=\($0.value)") }
        defer { envStrings.forEach { free($0) } }
        var envp = envStrings + [nil]
        var stdio = [uv_stdio_container_t](repeating: uv_stdio_container_t(), count: 3 + passing.count)
        for (offset, fd) in passing.enumerated() {
            stdio[3 + offset].flags = UV_INHERIT_FD
            stdio[3 + offset].data.fd = fd
        }
        switch mode {
        case .quiet:
            stdio[0].flags = UV_IGNORE
            stdio[1].flags = UV_INHERIT_FD
            stdio[1].data.fd = 2
            stdio[2].flags = UV_INHERIT_FD
            stdio[2].data.fd = 2
        case .inherit:
            for fd in 0..<3 {
                stdio[fd].flags = UV_INHERIT_FD
                stdio[fd].data.fd = Int32(fd)
            }
        }
        // libuv links the handle into the loop even when the spawn fails (a
        // missing program): HandleOwnership closes it then, and the error names the program.
        try HandleOwnership.initializeClosingOnFailure(child, child.handle, what: "start \(arguments[0])") { handle in
            argv.withUnsafeMutableBufferPointer { argvPointer in
                envp.withUnsafeMutableBufferPointer { envPointer in
                    stdio.withUnsafeMutableBufferPointer { stdioPointer in
                        var options = uv_process_options_t()
                        options.file = UnsafePointer(argvPointer[0])
                        options.args = argvPointer.baseAddress
                        options.env = envPointer.baseAddress
                        options.stdio_count = Int32(stdioPointer.count)
                        options.stdio = stdioPointer.baseAddress
                        options.exit_cb = { raw, status, signal in
                            let this = Unmanaged<ChildSpawner>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
                            this.exited = true
                            let done = this.onExit
                            this.onExit = nil
                            done?(status, signal)
                            this.close()
                        }
                        return uv_spawn(loop.raw, handle, &options)
                    }
                }
            }
        }
        return child
    }

    /// Stops watching the child without signalling it: the loop may end while
    /// the program runs on (it is reaped by init once this process is gone).
    /// For a browser opener, which may be the user's own browser.
    public func detach() {
        guard !exited else { return }
        exited = true
        onExit = nil
        close()
    }

    private func close() {
        HandleOwnership.close(handle)
    }
}
