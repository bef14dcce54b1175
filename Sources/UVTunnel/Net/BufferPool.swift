/// A fixed-capacity byte buffer owned by exactly one party at a time: the pool,
/// a pending read, a pending write, or a parser. `start..<end` are the bytes
/// not yet consumed.
public final class Buffer {
    let base: UnsafeMutableRawPointer
    public let capacity: Int
    public internal(set) var start = 0
    public internal(set) var end = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    public var count: Int { end - start }
    public var isEmpty: Bool { start == end }
    public var freeSpace: Int { capacity - end }

    func reset() {
        start = 0
        end = 0
    }

    /// Drops `n` bytes from the front (they were consumed).
    public func consume(_ n: Int) {
        precondition(n >= 0 && n <= count)
        start += n
        if start == end { reset() }
    }

    /// Appends as many of `bytes` as fit; returns how many were taken.
    @discardableResult
    public func append(_ bytes: some Collection<UInt8>) -> Int {
        let n = min(bytes.count, freeSpace)
        var offset = end
        for byte in bytes.prefix(n) {
            base.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
            offset += 1
        }
        end += n
        return n
    }

    /// Keeps only `bytes`, which must lie within the unconsumed bytes: a
    /// receiver adopts the part of a read a parser pointed it to (an HTTP/2
    /// DATA payload) instead of copying it. False, and nothing changed, when
    /// they lie elsewhere. The free space behind them may still hold input
    /// the parser has not read: the adopter must not fill it until then.
    public func narrow(to bytes: UnsafeRawBufferPointer) -> Bool {
        guard let address = bytes.baseAddress else { return false }
        let offset = address - UnsafeRawPointer(base)
        guard offset >= start, offset + bytes.count <= end else { return false }
        start = offset
        end = offset + bytes.count
        return true
    }

    /// The unconsumed bytes, copied out (control path only: heads, tests).
    public var bytes: [UInt8] {
        Array(UnsafeRawBufferPointer(start: base + start, count: count))
    }

    /// Read access without copying; the pointer must not escape the closure.
    public func withReadableBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base + start, count: count))
    }

    /// Lets a producer (libuv read, BIO_read) fill the free space; `body`
    /// returns how many bytes it wrote. Public for the load generator in perf/,
    /// which fills payloads with memset instead of byte-wise `append`.
    public func fill(_ body: (UnsafeMutableRawPointer, Int) -> Int) -> Int {
        let n = body(base + end, freeSpace)
        if n > 0 { end += n }
        return n
    }
}

/// Recycles buffers so the relay allocates nothing per read. Idle tunnels hold
/// no buffer: libuv asks for one only when bytes are ready to read.
///
/// The cache is a stack, so the buffers at its bottom are the ones no read
/// needed lately. `releaseUnused()` (the loop's `MemoryReclaimer`, once a
/// second) frees those that stayed in the cache through the whole period: after
/// a burst the cache empties within two periods instead of keeping up to
/// `maxCached` x `bufferSize` (16 MiB by default) for good, while a steady
/// load keeps exactly the buffers it keeps reusing.
public final class BufferPool {
    public let bufferSize: Int
    private let maxCached: Int
    private var free: [Buffer] = []
    /// The fewest buffers the cache held since the last `releaseUnused()`:
    /// that many were never taken in the period.
    private var lowWater = 0
    /// Buffers handed out and not yet returned: a leak check for tests.
    public private(set) var outstanding = 0

    public init(bufferSize: Int, maxCached: Int) {
        self.bufferSize = bufferSize
        self.maxCached = maxCached
        free.reserveCapacity(maxCached)
    }

    public func take() -> Buffer {
        outstanding += 1
        if let buffer = free.popLast() {
            if free.count < lowWater { lowWater = free.count }
            return buffer
        }
        return Buffer(capacity: bufferSize)
    }

    /// Frees the cached buffers no `take()` reached since the previous call
    /// (the bottom `lowWater` of the stack); returns how many it freed.
    @discardableResult
    public func releaseUnused() -> Int {
        let unused = lowWater
        if unused > 0 { free.removeFirst(unused) }
        lowWater = free.count
        return unused
    }

    public func give(_ buffer: Buffer) {
        outstanding -= 1
        guard buffer.capacity == bufferSize, free.count < maxCached else { return }
        buffer.reset()
        free.append(buffer)
    }

    public var cachedCount: Int { free.count }

    /// `bytes` copied into as many pool buffers as it takes (control messages:
    /// requests, responses), ready to hand to a write.
    public func buffers(copying bytes: [UInt8]) -> [Buffer] {
        var chunks: [Buffer] = []
        var offset = 0
        repeat {
            let buffer = take()
            offset += buffer.append(bytes[offset...])
            chunks.append(buffer)
        } while offset < bytes.count
        return chunks
    }
}

extension BufferPool {
    /// Copies `bytes` (valid only now, e.g. nghttp2's) behind the last of
    /// `buffers`, taking more pool buffers as they fill.
    public func append(copying bytes: UnsafeRawBufferPointer, to buffers: inout [Buffer]) {
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
