import CShims
import Glibc

/// Owns one `uv_process_t`: starts a program (the browser opener) without
/// blocking the loop, and reaps it when it exits. Its stdin is /dev/null and
/// its stdout goes to our stderr, so it can never write into a tunnel carried
/// over our stdout (`--listen -`).
public final class ChildSpawner {
    private let handle: UnsafeMutablePointer<uv_process_t> = .allocate(capacity: 1)
    private var onExit: ((Int64) -> Void)?

    private init(onExit: @escaping (Int64) -> Void) {
        self.onExit = onExit
    }

    /// Starts `arguments[0]` (searched in PATH) with the rest as its argv.
    /// `onExit` gets the exit status once it ends.
    @discardableResult
    public static func spawn(_ arguments: [String], loop: EventLoop,
                             onExit: @escaping (Int64) -> Void = { _ in }) throws(UVError) -> ChildSpawner {
        precondition(!arguments.isEmpty)
        let child = ChildSpawner(onExit: onExit)
        let cStrings = arguments.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        var argv = cStrings + [nil]
        var stdio = [uv_stdio_container_t](repeating: uv_stdio_container_t(), count: 3)
        stdio[0].flags = UV_IGNORE
        stdio[1].flags = UV_INHERIT_FD
        stdio[1].data.fd = 2
        stdio[2].flags = UV_INHERIT_FD
        stdio[2].data.fd = 2
        let status = argv.withUnsafeMutableBufferPointer { argvPointer in
            stdio.withUnsafeMutableBufferPointer { stdioPointer in
                var options = uv_process_options_t()
                options.file = UnsafePointer(argvPointer[0])
                options.args = argvPointer.baseAddress
                options.stdio_count = 3
                options.stdio = stdioPointer.baseAddress
                options.exit_cb = { raw, status, _ in
                    let this = Unmanaged<ChildSpawner>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
                    let done = this.onExit
                    this.onExit = nil
                    done?(status)
                    this.close()
                }
                return uv_spawn(loop.raw, child.handle, &options)
            }
        }
        child.handle.pointee.data = Unmanaged.passRetained(child).toOpaque()
        if status < 0 {
            // libuv initialised the handle even though the spawn failed: close it.
            child.onExit = nil
            child.close()
            throw UVError(status, "start \(arguments[0])")
        }
        return child
    }

    private func close() {
        uv_close(cshim_as_handle(handle)) { raw in
            let unmanaged = Unmanaged<ChildSpawner>.fromOpaque(raw!.pointee.data)
            unmanaged.takeUnretainedValue().handle.deallocate()
            unmanaged.release()
        }
    }
}
