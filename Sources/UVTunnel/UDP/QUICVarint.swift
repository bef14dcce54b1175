/// QUIC's variable-length integer (RFC 9000 §16), the framing of every
/// capsule field (RFC 9297): the top two bits of the first byte give the
/// length (00: 1 byte, 01: 2, 10: 4, 11: 8), the other bits and the bytes
/// after it are the value, big-endian. Values up to 2^62 - 1.
public enum QUICVarint {
    public static let max: UInt64 = (1 << 62) - 1

    /// How many bytes a varint starting with `first` takes.
    public static func length(first: UInt8) -> Int { 1 << Int(first >> 6) }

    /// The shortest encoding's length.
    public static func encodedLength(_ value: UInt64) -> Int {
        switch value {
        case ..<(1 << 6): return 1
        case ..<(1 << 14): return 2
        case ..<(1 << 30): return 4
        default: return 8
        }
    }

    /// Appends the shortest encoding of `value` (at most `max`).
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        precondition(value <= max, "a QUIC varint holds 62 bits")
        let length = encodedLength(value)
        let prefix = UInt8(length.trailingZeroBitCount) << 6
        for index in 0..<length {
            var byte = UInt8(truncatingIfNeeded: value >> (8 * UInt64(length - 1 - index)))
            if index == 0 { byte |= prefix }
            out.append(byte)
        }
    }

    /// Reads one varint from the start of `bytes`: its value and length, or
    /// nil when `bytes` holds only part of it.
    public static func read<C: Collection<UInt8>>(_ bytes: C) -> (value: UInt64, length: Int)? {
        guard let first = bytes.first else { return nil }
        let length = length(first: first)
        guard bytes.count >= length else { return nil }
        var value = UInt64(first & 0x3F)
        for byte in bytes.dropFirst().prefix(length - 1) { value = value << 8 | UInt64(byte) }
        return (value, length)
    }
}
