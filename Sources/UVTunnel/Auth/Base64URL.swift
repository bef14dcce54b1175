/// Base64url without padding (RFC 4648 §5, as JOSE uses it, RFC 7515 §2).
///
/// Decoding is strict, because its input is untrusted token text: only the
/// 64 URL-safe characters, no padding, no whitespace, and the unused low bits
/// of the last character must be zero, so every byte string has exactly one
/// accepted encoding.
package enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Maps an ASCII byte to its 6-bit value, or 0xFF for anything else.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }()

    package static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [character(n >> 18), character(n >> 12), character(n >> 6), character(n)]
            index += 3
        }
        switch bytes.count - index {
        case 1:
            let n = UInt32(bytes[index]) << 16
            out += [character(n >> 18), character(n >> 12)]
        case 2:
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [character(n >> 18), character(n >> 12), character(n >> 6)]
        default:
            break
        }
        return String(decoding: out, as: UTF8.self)
    }

    package static func encode(_ text: String) -> String { encode(Array(text.utf8)) }

    /// The decoded bytes, or nil for anything that is not canonical unpadded base64url.
    package static func decode(_ text: Substring) -> [UInt8]? {
        let input = Array(text.utf8)
        // One leftover character carries only 6 bits: never a whole byte.
        guard input.count % 4 != 1 else { return nil }
        var sextets: [UInt32] = []
        sextets.reserveCapacity(input.count)
        for byte in input {
            let value = values[Int(byte)]
            guard value != 0xFF else { return nil }
            sextets.append(UInt32(value))
        }
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3 / 4)
        var index = 0
        while index + 4 <= sextets.count {
            let n = sextets[index] << 18 | sextets[index + 1] << 12 | sextets[index + 2] << 6 | sextets[index + 3]
            out += [UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)]
            index += 4
        }
        switch sextets.count - index {
        case 2:
            // 12 bits: one byte plus 4 bits that must be zero.
            guard sextets[index + 1] & 0x0F == 0 else { return nil }
            out.append(UInt8(truncatingIfNeeded: (sextets[index] << 2) | (sextets[index + 1] >> 4)))
        case 3:
            // 18 bits: two bytes plus 2 bits that must be zero.
            guard sextets[index + 2] & 0x03 == 0 else { return nil }
            let n = sextets[index] << 10 | sextets[index + 1] << 4 | sextets[index + 2] >> 2
            out += [UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)]
        default:
            break
        }
        return out
    }

    package static func decode(_ text: String) -> [UInt8]? { decode(text[...]) }

    private static func character(_ n: UInt32) -> UInt8 { alphabet[Int(n & 0x3F)] }
}
