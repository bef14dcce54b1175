import CShims
@testable import UVTunnel

/// Runs a callback on the loop's next iteration, once per `request()`, through
/// a `uv_idle_t` (which libuv runs once per iteration and, while active, polls
/// without blocking). Not a 0 ms timer: libuv 1.44 runs a timer restarted from
/// its own callback again in the same pass, so "the next turn" would never come
/// and `runOnce` could not step a test through turns one by one.
final class LoopTurn {
    private let handle: UnsafeMutablePointer<uv_idle_t> = .allocate(capacity: 1)
    private let body: () -> Void
    private var isActive = false
    private var isClosing = false

    init(loop: EventLoop, _ body: @escaping () -> Void) {
        self.body = body
        HandleOwnership.initializeInfallible(self, handle, what: "uv_idle_init") { uv_idle_init(loop.raw, $0) }
    }

    /// The body runs on the next iteration (once, however often this is called before).
    func request() {
        guard !isClosing, !isActive else { return }
        isActive = true
        uv_idle_start(handle) { raw in
            let this = Unmanaged<LoopTurn>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
            // Stopped first, so a request made by the body itself waits for the next iteration.
            this.isActive = false
            uv_idle_stop(raw)
            this.body()
        }
    }

    func close() {
        guard !isClosing else { return }
        isClosing = true
        isActive = false
        HandleOwnership.close(handle)
    }
}
