import CShims

/// The ciphertext side of one TLS session: an OpenSSL BIO over pool buffers.
/// OpenSSL reads received records straight out of the buffers the socket
/// read into, and writes its records straight into buffers the socket then
/// writes from. The two memory BIOs this replaces copied every byte once
/// more on each side and zero-filled their storage as it grew
/// (BUF_MEM_grow_clean): about 2 of the 7 instructions per relayed byte.
///
/// Ownership: the `BIO` belongs to the `SSL` (`SSL_set_bio`), which frees it;
/// this object owns the buffers, is owned by the `TLSSession` and outlives the
/// `SSL` (the session frees the `SSL` in its `deinit`, before its properties
/// go), so the BIO's unretained pointer back to it never dangles.
final class BufferBIO {
    private let pool: BufferPool
    /// Received ciphertext OpenSSL has not read yet, oldest first.
    private var inbound: [Buffer] = []
    /// Records OpenSSL has written, not yet taken for the socket.
    private var outbound: [Buffer] = []

    init(pool: BufferPool) {
        self.pool = pool
        inbound.reserveCapacity(2)
        outbound.reserveCapacity(2)
    }

    deinit {
        for buffer in inbound { pool.give(buffer) }
        for buffer in outbound { pool.give(buffer) }
    }

    /// A new BIO reading from and writing to this object, for `SSL_set_bio`.
    func makeBIO() -> OpaquePointer? {
        guard let bio = BIO_new(BufferBIO.method.raw) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        return bio
    }

    /// Takes `buffer` (ciphertext from the socket) for OpenSSL to read.
    func feed(_ buffer: Buffer) {
        guard !buffer.isEmpty else { return pool.give(buffer) }
        inbound.append(buffer)
    }

    /// The records written so far, for the socket; they are the caller's now.
    func takeOutput() -> [Buffer] {
        let taken = outbound
        outbound.removeAll(keepingCapacity: true)
        return taken
    }

    var pendingInput: Int { inbound.reduce(0) { $0 + $1.count } }
    var pendingOutput: Int { outbound.reduce(0) { $0 + $1.count } }

    // MARK: What OpenSSL calls

    /// Copies up to `capacity` received bytes to OpenSSL; 0 means none yet.
    private func read(into destination: UnsafeMutableRawPointer, capacity: Int) -> Int {
        guard let first = inbound.first else { return 0 }
        let n = first.withReadableBytes { bytes in
            let n = min(bytes.count, capacity)
            destination.copyMemory(from: bytes.baseAddress!, byteCount: n)
            return n
        }
        first.consume(n)
        if first.isEmpty {
            inbound.removeFirst()
            pool.give(first)
        }
        return n
    }

    /// Appends a record (or part of one) OpenSSL wrote; never refuses.
    private func write(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            if outbound.last.map({ $0.freeSpace == 0 }) ?? true { outbound.append(pool.take()) }
            offset += outbound[outbound.count - 1].fill { space, room in
                let n = min(room, bytes.count - offset)
                space.copyMemory(from: bytes.baseAddress! + offset, byteCount: n)
                return n
            }
        }
    }

    private static func owner(of bio: OpaquePointer?) -> BufferBIO? {
        guard let bio, let data = BIO_get_data(bio) else { return nil }
        return Unmanaged<BufferBIO>.fromOpaque(data).takeUnretainedValue()
    }

    /// The BIO_METHOD, made once per process and never changed (so sharing it
    /// between the loop and the sign-in thread is safe).
    private struct Method: @unchecked Sendable { let raw: OpaquePointer }

    private static let method: Method = {
        guard let raw = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "uvtunnel buffers") else {
            fatalError("BIO_meth_new failed: out of memory")
        }
        _ = BIO_meth_set_write_ex(raw) { bio, data, length, written in
            cshim_BIO_clear_retry_flags(bio)
            guard let this = BufferBIO.owner(of: bio), let written else { return 0 }
            if length > 0, let data { this.write(UnsafeRawBufferPointer(start: data, count: length)) }
            written.pointee = length
            return 1
        }
        _ = BIO_meth_set_read_ex(raw) { bio, destination, capacity, read in
            cshim_BIO_clear_retry_flags(bio)
            guard let this = BufferBIO.owner(of: bio), let destination, let read else { return 0 }
            let n = this.read(into: destination, capacity: capacity)
            guard n > 0 else {
                // No ciphertext yet: "try again", not end of file (the socket's
                // EOF is TLSStream's to judge).
                cshim_BIO_set_retry_read(bio)
                return 0
            }
            read.pointee = n
            return 1
        }
        _ = BIO_meth_set_ctrl(raw) { bio, command, _, _ in
            switch command {
            case BIO_CTRL_FLUSH: return 1  // written records wait in `outbound` for the loop
            case BIO_CTRL_PENDING: return BufferBIO.owner(of: bio).map { $0.pendingInput } ?? 0
            case BIO_CTRL_WPENDING: return BufferBIO.owner(of: bio).map { $0.pendingOutput } ?? 0
            default: return 0  // not supported (kTLS, EOF queries, push/pop): OpenSSL's fallback paths
            }
        }
        _ = BIO_meth_set_destroy(raw) { bio in
            BIO_set_data(bio, nil)
            BIO_set_init(bio, 0)
            return 1
        }
        return Method(raw: raw)
    }()
}
