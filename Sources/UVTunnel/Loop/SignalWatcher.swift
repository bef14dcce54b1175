import CShims

/// Owns one `uv_signal_t`: turns a POSIX signal into a callback on the loop.
public final class SignalWatcher {
    private let handle: UnsafeMutablePointer<uv_signal_t> = .allocate(capacity: 1)
    private var callback: ((Int32) -> Void)?
    private var isClosing = false

    public init(loop: EventLoop, signal: Int32, _ body: @escaping (Int32) -> Void) throws(UVError) {
        // Fails only when it has to make the loop's signal pipe (uv_loop_init
        // makes it for its own SIGCHLD watcher; a loop reset after fork makes it
        // again), and then leaves no handle to close.
        try HandleOwnership.initialize(self, handle, what: "watch signal \(signal): uv_signal_init") { uv_signal_init(loop.raw, $0) }
        callback = body
        let status = uv_signal_start(handle, { raw, signum in
            Unmanaged<SignalWatcher>.fromOpaque(raw!.pointee.data).takeUnretainedValue().callback?(signum)
        }, signal)
        if status < 0 {
            close()
            throw UVError(status, "signal \(signal)")
        }
    }

    /// Watching a signal should not by itself keep the loop running.
    public func unref() { uv_unref(cshim_as_handle(handle)) }

    public func close() {
        guard !isClosing else { return }
        isClosing = true
        callback = nil
        HandleOwnership.close(handle)
    }
}
