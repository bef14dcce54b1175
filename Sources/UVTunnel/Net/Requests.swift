import CShims

/// A libuv request that owns its own memory and the Swift object behind it
/// until its callback, which libuv always delivers (`UV_ECANCELED` after a
/// close). `fail` covers the case where libuv refused the request, so no
/// callback will come and the completion runs right away.

final class UVWriteRequest {
    let raw: UnsafeMutablePointer<uv_write_t> = .allocate(capacity: 1)
    private let pool: BufferPool
    private var buffers: [Buffer]
    private var completion: ((StreamError?) -> Void)?

    init(pool: BufferPool, buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        self.pool = pool
        self.buffers = buffers
        self.completion = completion
        raw.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    deinit { raw.deallocate() }

    private func finish(_ error: UVError?) {
        for buffer in buffers { pool.give(buffer) }
        buffers = []
        let done = completion
        completion = nil
        done?(error.map { StreamError($0) })
    }

    func fail(_ error: UVError) {
        Unmanaged.passUnretained(self).release()
        finish(error)
    }

    static let callback: uv_write_cb = { raw, status in
        let this = Unmanaged<UVWriteRequest>.fromOpaque(raw!.pointee.data).takeRetainedValue()
        this.finish(status < 0 ? UVError(status, "write") : nil)
    }
}

final class UVShutdownRequest {
    let raw: UnsafeMutablePointer<uv_shutdown_t> = .allocate(capacity: 1)
    private var completion: ((StreamError?) -> Void)?

    init(completion: @escaping (StreamError?) -> Void) {
        self.completion = completion
        raw.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    deinit { raw.deallocate() }

    private func finish(_ error: UVError?) {
        let done = completion
        completion = nil
        done?(error.map { StreamError($0) })
    }

    func fail(_ error: UVError) {
        Unmanaged.passUnretained(self).release()
        finish(error)
    }

    static let callback: uv_shutdown_cb = { raw, status in
        let this = Unmanaged<UVShutdownRequest>.fromOpaque(raw!.pointee.data).takeRetainedValue()
        this.finish(status < 0 ? UVError(status, "shutdown") : nil)
    }
}

final class UVConnectRequest {
    let raw: UnsafeMutablePointer<uv_connect_t> = .allocate(capacity: 1)
    private var completion: ((UVError?) -> Void)?

    init(completion: @escaping (UVError?) -> Void) {
        self.completion = completion
        raw.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    deinit { raw.deallocate() }

    /// libuv refused the request synchronously: drop our retain, the caller reports the error.
    func abandon() {
        completion = nil
        Unmanaged.passUnretained(self).release()
    }

    static let callback: uv_connect_cb = { raw, status in
        let this = Unmanaged<UVConnectRequest>.fromOpaque(raw!.pointee.data).takeRetainedValue()
        let done = this.completion
        this.completion = nil
        done?(status < 0 ? UVError(status, "connect") : nil)
    }
}
