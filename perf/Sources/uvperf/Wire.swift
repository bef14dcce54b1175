import Glibc
import UVTunnel

/// The generator's protocol with its own target server. The client's first
/// byte picks the mode; the server answers one ack byte, which proves the
/// tunnel is open end to end (CONNECT answered, target reached) whatever the
/// tunnel does with bytes that race its handshake.
enum Mode: UInt8 {
    /// Everything sent comes back.
    case echo = 0x45  // "E"
    /// Bytes are counted (into one total for the whole server) and dropped.
    case sink = 0x53  // "S"
    /// Control, on a direct connection: each byte received is answered with
    /// the sink total as a little-endian UInt64, so the client measures what
    /// actually arrived without depending on the tunnel's reverse path.
    case count = 0x43  // "C"
    /// The server sends as fast as the connection takes.
    case source = 0x4F  // "O"
    /// Server→client frames with a header (see `FrameHeader`); client→server
    /// inputs are read and dropped.
    case rdp = 0x52  // "R"
    /// As `rdp`, plus each chunk of input read is sent back as an echo record
    /// (see `FrameHeader.echoFlag`), so a client can time its inputs' round
    /// trip; the first frame goes out at once, as an RDP server sends the
    /// screen on logon. For perf/loadtest (Locust), whose clients are not here.
    case rdpEcho = 0x72  // "r"
}

enum Wire {
    static let ack: UInt8 = 0x2B  // "+"
    static let countSize = 8
}

/// Header of an rdp-mode frame: total frame length (UInt32) and the time the
/// server queued it (UInt64 ns, CLOCK_MONOTONIC), little-endian.
enum FrameHeader {
    static let size = 12
    /// Set in the length of an `rdpEcho` record: the record's body is input
    /// bytes as the server read them, not a frame.
    static let echoFlag: UInt32 = 0x8000_0000
}

extension BufferPool {
    /// A pool buffer with `count` filler bytes (memset: a byte loop would cost
    /// more than the tunnel under test) after an optional header.
    func payload(_ count: Int, header: [UInt8] = []) -> Buffer {
        let buffer = take()
        precondition(header.count <= count && count <= buffer.capacity)
        _ = buffer.fill { base, _ in
            if !header.isEmpty {
                header.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            memset(base + header.count, 0x61, count - header.count)
            return count
        }
        return buffer
    }
}

/// Little-endian encoding helpers for the frame header and the sink count.
extension UInt64 {
    var littleEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) } }
}

extension UInt32 {
    var littleEndianBytes: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) } }
}
