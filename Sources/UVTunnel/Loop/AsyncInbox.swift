import CShims
import Foundation

/// Owns one `uv_async_t`: any thread may `wake()` the loop, which then runs
/// `onWake` once per batch of wake-ups (libuv coalesces them).
final class AsyncWakeup: @unchecked Sendable {
    private let handle: UnsafeMutablePointer<uv_async_t> = .allocate(capacity: 1)
    /// Loop thread only.
    private var onWake: (() -> Void)?

    init(loop: EventLoop, onWake: @escaping () -> Void) throws(UVError) {
        self.onWake = onWake
        // Fails only when it has to make the loop's wake-up descriptor (which
        // uv_loop_init already made for its thread pool), leaving no handle.
        try HandleOwnership.initialize(self, handle, what: "uv_async_init") { handle in
            uv_async_init(loop.raw, handle) { raw in
                Unmanaged<AsyncWakeup>.fromOpaque(raw!.pointee.data).takeUnretainedValue().onWake?()
            }
        }
    }

    /// Any thread, but never after `close()` (the owner guarantees that).
    func wake() { uv_async_send(handle) }

    func unref() { uv_unref(cshim_as_handle(handle)) }

    /// Loop thread; the one close path.
    func close() {
        onWake = nil
        HandleOwnership.close(handle)
    }
}

/// Lets other threads hand values to the loop: `post` appends under a lock
/// and wakes the loop; the loop drains the whole inbox per wake-up.
///
/// Only `post` may be called from another thread; `close` and the receiver
/// run on the loop thread. Values must be `Sendable`.
public final class AsyncInbox<Message: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var queue: [Message] = []  // guarded by lock
    private var isClosed = false       // guarded by lock: a post after close is dropped
    private var wakeup: AsyncWakeup!
    private var receive: ((Message) -> Void)?

    public init(loop: EventLoop, receive: @escaping (Message) -> Void) throws(UVError) {
        self.receive = receive
        wakeup = try AsyncWakeup(loop: loop) { [weak self] in self?.drain() }
    }

    /// Any thread. Returns false when the inbox is closed (the message is dropped).
    @discardableResult
    public func post(_ message: Message) -> Bool {
        lock.withLock { () -> Bool in
            guard !isClosed else { return false }
            queue.append(message)
            // Under the lock, so close() cannot release the handle in between.
            wakeup.wake()
            return true
        }
    }

    private func drain() {
        let batch = lock.withLock { () -> [Message] in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
        for message in batch { receive?(message) }
    }

    /// The inbox alone does not keep the loop running.
    public func unref() { wakeup.unref() }

    /// Loop thread. Messages still queued are dropped.
    public func close() {
        let first = lock.withLock { () -> Bool in
            defer { isClosed = true }
            return !isClosed
        }
        guard first else { return }
        receive = nil
        wakeup.close()
    }
}
