/// One direction of a `MemoryStreamPair`: a fixed-size ring of bytes, the
/// stand-in for the kernel's socket buffers. A writer copies in as much as fits,
/// a reader copies out; a full wire is what makes a writer wait.
final class MemoryWire {
    let capacity: Int
    private let storage: UnsafeMutableRawPointer
    private var head = 0
    private(set) var count = 0
    /// The writer's end has been said (shutdown or close): EOF after the bytes.
    var isFinished = false

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    var room: Int { capacity - count }

    /// Copies `bytes` in; the caller checked `room`.
    func push(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= room)
        var offset = 0
        while offset < bytes.count {
            let tail = (head + count) % capacity
            let n = min(bytes.count - offset, capacity - tail)
            (storage + tail).copyMemory(from: bytes.baseAddress! + offset, byteCount: n)
            count += n
            offset += n
        }
    }

    /// Copies up to `space` bytes out into `destination`; returns how many.
    func pop(into destination: UnsafeMutableRawPointer, space: Int) -> Int {
        var copied = 0
        while copied < space, count > 0 {
            let n = min(space - copied, count, capacity - head)
            (destination + copied).copyMemory(from: storage + head, byteCount: n)
            head = (head + n) % capacity
            count -= n
            copied += n
        }
        if count == 0 { head = 0 }
        return copied
    }

    /// Drops every byte (a reader that closed, or a cut connection).
    func discard() {
        head = 0
        count = 0
    }
}
