import CShims

/// The transport read an nghttp2 session is parsing, and the one DATA
/// payload in it that may keep the read's buffer instead of a copy: shared
/// by the client's and the gateway's sessions. A class, because the payload
/// adopts the buffer from inside `parse` (nghttp2's DATA callback runs
/// within `nghttp2_session_mem_recv`), which a mutating struct method could
/// not allow.
package final class H2InboundRead {
    private let pool: BufferPool
    private var reading: Buffer?
    private var adopted = false

    package init(pool: BufferPool) {
        self.pool = pool
    }

    /// Feeds `buffer` to `session` and gives it back to the pool unless a
    /// stream adopted it; `nghttp2_session_mem_recv`'s result (negative: a
    /// protocol error). `session` is used only during the call.
    package func parse(_ buffer: Buffer, by session: OpaquePointer?) -> Int {
        reading = buffer
        adopted = false
        let result = buffer.withReadableBytes { bytes in
            nghttp2_session_mem_recv(session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        }
        reading = nil
        if !adopted { pool.give(buffer) }
        return result
    }

    /// The read being parsed, narrowed to `bytes` (a DATA payload inside it),
    /// for a stream to keep instead of a copy; once per read, and only for
    /// at least half a buffer, so an adopted buffer holds at most twice its
    /// bytes (a stream's memory bound stays within 2x of its window).
    package func adopt(_ bytes: UnsafeRawBufferPointer) -> Buffer? {
        guard !adopted, let reading, bytes.count >= pool.bufferSize / 2, reading.narrow(to: bytes) else { return nil }
        adopted = true
        return reading
    }
}
