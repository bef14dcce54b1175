import CShims

/// The one ownership rule for libuv requests (write, shutdown, connect,
/// getaddrinfo), as `HandleOwnership` is for handles: a request owns its raw
/// memory and whatever its completion captures (a write's buffers) until
/// libuv's callback, which libuv always delivers once the request started
/// (`UV_ECANCELED` when its handle was closed first). While libuv holds the
/// request, the request holds itself (a retain in `data`), so dropping every
/// Swift reference to it is safe.
///
/// - `start` hands it to libuv; a refused start (negative status) makes no
///   callback, so the request keeps no retain and the caller decides: `fail`
///   runs the completion now, or the caller drops the request and reports
///   the error itself.
/// - `abandon` is the one way to say "the owner went away": the completion
///   will not run; libuv's callback still comes and frees the request (and
///   work libuv can still stop, a lookup not yet run, is cancelled).
final class UVRequest<Raw, Outcome> {
    let raw: UnsafeMutablePointer<Raw> = .allocate(capacity: 1)
    /// nil once the request has finished or was abandoned.
    private var completion: ((Outcome) -> Void)?
    /// Between a successful `start` and libuv's callback.
    private var inFlight = false

    init(completion: @escaping (Outcome) -> Void) {
        self.completion = completion
    }

    deinit { raw.deallocate() }

    /// Every request type begins with libuv's UV_REQ_FIELDS, `data` first.
    private var header: UnsafeMutablePointer<uv_req_t> {
        UnsafeMutableRawPointer(raw).assumingMemoryBound(to: uv_req_t.self)
    }

    /// Runs the libuv call that submits this request (`submit` gets the raw
    /// request) and returns its status.
    func start(_ submit: (UnsafeMutablePointer<Raw>) -> Int32) -> Int32 {
        precondition(!inFlight && completion != nil, "a request starts once")
        let retained = Unmanaged.passRetained(self)
        header.pointee.data = retained.toOpaque()
        let status = submit(raw)
        if status < 0 {
            retained.release()
        } else {
            inFlight = true
        }
        return status
    }

    /// The request never reached libuv (refused, or its handle is closing):
    /// the completion runs now.
    func fail(_ outcome: Outcome) {
        precondition(!inFlight, "a request libuv holds ends in its callback")
        finish(outcome)
    }

    /// The owner went away: see the type's comment.
    func abandon() {
        completion = nil
        // Only libuv's thread-pool requests (a lookup) can be stopped; for the
        // others uv_cancel answers EINVAL and their callback comes anyway.
        if inFlight { uv_cancel(header) }
    }

    /// From the request type's libuv callback: drops the retain `start` took
    /// and runs the completion unless the owner abandoned it (`outcome` is
    /// then not even worked out).
    static func complete(_ raw: UnsafeMutableRawPointer, _ outcome: @autoclosure () -> Outcome) {
        let data = raw.assumingMemoryBound(to: uv_req_t.self).pointee.data!
        let this = Unmanaged<UVRequest>.fromOpaque(data).takeRetainedValue()
        this.inFlight = false
        guard this.completion != nil else { return }
        this.finish(outcome())
    }

    private func finish(_ outcome: Outcome) {
        let done = completion
        completion = nil
        done?(outcome)
    }
}

/// A write, a shutdown or a connect: nil, or the error libuv reported.
typealias UVStatusRequest<Raw> = UVRequest<Raw, UVError?>

/// libuv's callbacks, one per request type (C function pointers cannot be
/// generic): each turns libuv's answer into the request's outcome.
enum UVRequestCallbacks {
    static let write: uv_write_cb = { raw, status in
        UVStatusRequest<uv_write_t>.complete(raw!, status < 0 ? UVError(status, "write") : nil)
    }

    static let shutdown: uv_shutdown_cb = { raw, status in
        UVStatusRequest<uv_shutdown_t>.complete(raw!, status < 0 ? UVError(status, "shutdown") : nil)
    }

    static let connect: uv_connect_cb = { raw, status in
        UVStatusRequest<uv_connect_t>.complete(raw!, status < 0 ? UVError(status, "connect") : nil)
    }
}
