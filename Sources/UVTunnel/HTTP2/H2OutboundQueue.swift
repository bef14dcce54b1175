/// A stream's bytes waiting for DATA frames (client and gateway streams
/// alike): pool buffers in order, framed without copies by nghttp2. `take`
/// moves whole buffers into the transport write, and copies a small payload
/// or a part of a buffer.
package struct H2OutboundQueue {
    /// What the DATA source tells nghttp2: `n` bytes go, `n` bytes and then
    /// END_STREAM, or nothing yet (DEFERRED until the stream resumes).
    package enum Produced { case bytes(Int), end(Int), nothingYet }

    package private(set) var buffers: [Buffer] = []
    /// The bytes of `buffers` (a limit counts these, not the buffers).
    package private(set) var bytes = 0

    package init() {}

    /// Queues `buffer` as it is (a datagram capsule, an answer's body).
    package mutating func append(_ buffer: Buffer) {
        bytes += buffer.count
        buffers.append(buffer)
    }

    /// Queues `buffer`'s bytes, first into the free space of the last queued
    /// buffer, so the queue holds pool buffers in proportion to its bytes:
    /// a 64 KiB read buffer carrying one byte goes back to `pool` instead
    /// of waiting whole in the queue.
    package mutating func enqueue(_ buffer: Buffer, pool: BufferPool) {
        bytes += buffer.count
        if let last = buffers.last, last.freeSpace > 0, !buffer.isEmpty {
            let moved = last.fill { base, space in
                buffer.withReadableBytes { bytes in
                    let n = min(space, bytes.count)
                    base.copyMemory(from: bytes.baseAddress!, byteCount: n)
                    return n
                }
            }
            buffer.consume(moved)
        }
        if buffer.isEmpty { pool.give(buffer) } else { buffers.append(buffer) }
    }

    /// How long the next DATA frame should be: the queued buffers that fit
    /// whole in `limit` (so `take` moves them instead of copying), at least 1
    /// (nghttp2 asks before the DATA source says whether anything is queued).
    package func preferredFrameLength(limit: Int) -> Int {
        var total = 0
        for buffer in buffers {
            guard total + buffer.count <= limit else { break }
            total += buffer.count
        }
        return max(1, total > 0 ? total : min(bytes, limit))
    }

    /// The DATA source: how many queued bytes the next DATA frame carries,
    /// at most `limit`, and END_STREAM with the last of them once `ended`
    /// (no more will be queued). Nothing is copied here: `take` hands the
    /// bytes over once nghttp2 has framed them (NGHTTP2_DATA_FLAG_NO_COPY).
    package func produce(upTo limit: Int, ended: Bool) -> Produced {
        let n = min(bytes, limit)
        if n == bytes && ended { return .end(n) }
        return n > 0 ? .bytes(n) : .nothingYet
    }

    /// Payloads shorter than this are copied into the write, right behind
    /// their frame header, instead of moved as the stream's own buffers:
    /// TLSStream encrypts each buffer of a write as records of its own, so
    /// a moved 64-byte payload was a record (and an SSL_read on the peer)
    /// per stream per turn; copied, the frames of many streams share records
    /// of up to 16 KiB. Below a record's size a copy costs less than the
    /// record it saves; longer payloads fill records of their own anyway.
    package static let copyLimit = 16 * 1024

    /// Moves the first `count` queued bytes (at most `bytes`) behind
    /// `chunks`, the session's next transport write: a payload under
    /// `copyLimit` by a copy into `pool`'s buffers (its emptied buffers go
    /// back to `pool`), a longer one as whole buffers, and a part of one by
    /// a copy.
    package mutating func take(_ count: Int, into chunks: inout [Buffer], pool: BufferPool) {
        let copiesAll = count < H2OutboundQueue.copyLimit
        var remaining = count
        while remaining > 0 {
            let first = buffers[0]
            if first.count <= remaining && !copiesAll {
                buffers.removeFirst()
                remaining -= first.count
                chunks.append(first)
            } else {
                let n = min(remaining, first.count)
                first.withReadableBytes { bytes in
                    pool.append(copying: UnsafeRawBufferPointer(rebasing: bytes[..<n]), to: &chunks)
                }
                first.consume(n)
                remaining -= n
                if first.isEmpty {
                    buffers.removeFirst()
                    pool.give(first)
                }
            }
        }
        bytes -= count
    }

    /// Gives every queued buffer back to `pool` (the stream is over).
    package mutating func drain(to pool: BufferPool) {
        buffers.forEach { pool.give($0) }
        buffers.removeAll()
        bytes = 0
    }
}
