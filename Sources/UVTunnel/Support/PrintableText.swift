/// Renders untrusted bytes (a gateway's reply, a user's argument) for an error
/// message: quoted, truncated, with every control or non-ASCII byte escaped, so
/// a hostile peer can never put a line break or a terminal escape into our logs.
package enum PrintableText {
    /// `"SSH-2.0-Op..."`: at most `limit` bytes, then "..." when there was more.
    package static func quoted(_ bytes: some Sequence<UInt8>, limit: Int = 32) -> String {
        var out = "\""
        var shown = 0
        for byte in bytes {
            if shown == limit {
                out += "..."
                break
            }
            out += escaped(byte)
            shown += 1
        }
        return out + "\""
    }

    /// The same for text, by its UTF-8 bytes (non-ASCII shows as \xNN).
    package static func quoted(_ text: some StringProtocol, limit: Int = 80) -> String {
        quoted(text.utf8, limit: limit)
    }

    private static func escaped(_ byte: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "\""): return "\\\""
        case UInt8(ascii: "\\"): return "\\\\"
        case UInt8(ascii: "\r"): return "\\r"
        case UInt8(ascii: "\n"): return "\\n"
        case UInt8(ascii: "\t"): return "\\t"
        case 0x20...0x7E: return String(UnicodeScalar(byte))
        default: return "\\x" + hex(byte)
        }
    }

    package static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}
