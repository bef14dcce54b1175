import CShims

/// Why one stream on a shared HTTP/2 connection failed: the gateway reset it
/// (the code names why, e.g. REFUSED_STREAM), or the connection under it broke.
public enum HTTP2Failure: Error, Equatable, Sendable, CustomStringConvertible {
    /// RST_STREAM (or a GOAWAY that did not cover it) with this error code.
    case reset(code: UInt32)
    /// The connection to the gateway failed or closed with the stream open.
    case connectionLost(String)
    /// A new connection's first SETTINGS allowed no streams (or a GOAWAY
    /// came with them): its waiting tunnels fail rather than dial again.
    case takesNoStreams(String)
    /// The connector already has this many connections open or being
    /// dialled: a gateway that keeps refusing work must not use up descriptors.
    case connectionLimit(Int)
    /// The gateway's response header block went past this many bytes: the
    /// stream is reset rather than buffered without bound.
    case headersTooLarge(Int)

    public var description: String {
        switch self {
        case .reset(let code): return "the gateway reset the stream: \(HTTP2Failure.codeName(code))"
        case .connectionLost(let reason): return "the HTTP/2 connection to the gateway was lost: \(reason)"
        case .takesNoStreams(let why): return "the gateway's new HTTP/2 connection takes no streams: \(why)"
        case .headersTooLarge(let limit): return "the gateway's response headers exceed \(limit / 1024) KiB"
        case .connectionLimit(let count):
            return "\(count) HTTP/2 connections to the gateway are already open or being dialled, the most allowed"
        }
    }

    /// "REFUSED_STREAM (0x7)": nghttp2's name for an HTTP/2 error code.
    static func codeName(_ code: UInt32) -> String {
        let name = String(cString: nghttp2_http2_strerror(code))
        return "\(name) (0x\(String(code, radix: 16)))"
    }
}
