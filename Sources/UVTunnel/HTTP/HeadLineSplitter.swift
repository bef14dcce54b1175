/// Cuts the bytes of an HTTP/1.x head into lines, one byte at a time, so a
/// parser can be fed any chunking (byte by byte or all at once) and stop at the
/// exact byte where the head ends: what follows belongs to the tunnel.
///
/// Enforces what no head may contain, as early as possible: more than `limit`
/// bytes, control characters other than tab, and a CR not followed by LF.
/// Accepts CRLF and, tolerantly, bare LF line ends.
struct HeadLineSplitter: Sendable {
    enum Problem: Error, Equatable {
        case tooLarge
        case controlByte(UInt8)
        case strayCarriageReturn
    }

    let limit: Int
    /// Head bytes taken so far, line ends included.
    private(set) var count = 0
    /// The line being collected, without its line end.
    private(set) var line: [UInt8] = []
    private var pendingCR = false

    init(limit: Int) { self.limit = limit }

    /// Takes one byte; returns the finished line when this byte ends one.
    mutating func push(_ byte: UInt8) throws(Problem) -> [UInt8]? {
        count += 1
        guard count <= limit else { throw .tooLarge }
        if pendingCR {
            pendingCR = false
            guard byte == 0x0A else { throw .strayCarriageReturn }
            return finishLine()
        }
        switch byte {
        case 0x0A:
            return finishLine()
        case 0x0D:
            pendingCR = true
            return nil
        case 0x09, 0x20...0x7E, 0x80...0xFF:
            line.append(byte)
            return nil
        default:
            throw .controlByte(byte)
        }
    }

    private mutating func finishLine() -> [UInt8] {
        defer { line.removeAll(keepingCapacity: true) }
        return line
    }
}
