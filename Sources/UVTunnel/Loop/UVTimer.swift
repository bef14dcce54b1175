import CShims

/// Owns one `uv_timer_t`; freed in its close callback like every handle.
public final class UVTimer {
    private let handle: UnsafeMutablePointer<uv_timer_t> = .allocate(capacity: 1)
    private var callback: (() -> Void)?
    private var isClosing = false

    public init(loop: EventLoop) {
        HandleOwnership.initializeInfallible(self, handle, what: "uv_timer_init") { uv_timer_init(loop.raw, $0) }
    }

    /// Fires once after `milliseconds` (re-arming replaces the previous deadline).
    public func start(milliseconds: UInt64, repeat interval: UInt64 = 0, _ body: @escaping () -> Void) {
        guard !isClosing else { return }
        callback = body
        uv_timer_start(handle, { raw in
            let this = Unmanaged<UVTimer>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
            this.callback?()
        }, milliseconds, interval)
    }

    public func stop() {
        guard !isClosing else { return }
        uv_timer_stop(handle)
        callback = nil
    }

    /// Does not keep the loop alive by itself (housekeeping timers).
    public func unref() { uv_unref(cshim_as_handle(handle)) }

    public func close() {
        guard !isClosing else { return }
        isClosing = true
        callback = nil
        HandleOwnership.close(handle)
    }
}
