import UVTunnel

extension BufferPool {
    /// Copies `bytes` (nghttp2's, valid only now) behind the last of
    /// `buffers`, filling its free space first and taking more pool buffers
    /// as they fill, so queued bytes hold pool buffers in proportion to their
    /// count. (The client's HTTP/2 session has the same helper, internal to
    /// UVTunnel; this is the gateway's own copy of the idea.)
    func appendCopy(of bytes: UnsafeRawBufferPointer, to buffers: inout [Buffer]) {
        var offset = 0
        while offset < bytes.count {
            if buffers.last.map({ $0.freeSpace == 0 }) ?? true { buffers.append(take()) }
            let buffer = buffers[buffers.count - 1]
            offset += buffer.fill { base, space in
                let n = min(space, bytes.count - offset)
                base.copyMemory(from: bytes.baseAddress! + offset, byteCount: n)
                return n
            }
        }
    }
}
