/// Decodes a `Transfer-Encoding: chunked` body (RFC 9112 §7.1) incrementally,
/// for HTTPBodyDecoder.
///
/// The sender is untrusted, so every part has a bound: the decoded body by
/// `limit` (checked when a chunk size is read, before its data arrives), a
/// chunk-size line (with its extensions) by `maxSizeLineLength`, and the
/// trailer section by `maxTrailerLength`. Chunk extensions and trailer fields
/// are tolerated and discarded: nothing in them matters for a text body.
struct ChunkedBodyDecoder: Sendable {
    static let maxSizeLineLength = 4 * 1024
    static let maxTrailerLength = 8 * 1024

    let limit: Int
    private(set) var body: [UInt8] = []
    private(set) var isComplete = false
    private var state: State

    private enum State: Sendable {
        /// Reading "hex-size[;ext...]" up to its line end.
        case sizeLine(HeadLineSplitter)
        /// Copying `remaining` bytes of chunk data.
        case data(remaining: Int)
        /// The CRLF after chunk data; `sawCR` once the CR has arrived.
        case dataEnd(sawCR: Bool)
        /// Trailer fields after the last (zero-size) chunk, up to a blank line.
        case trailers(HeadLineSplitter)
        case done
    }

    init(limit: Int) {
        self.limit = max(0, limit)
        self.state = .sizeLine(HeadLineSplitter(limit: Self.maxSizeLineLength))
    }

    /// Takes the next bytes; returns how many were part of the body (the rest,
    /// after the final CRLF, are not ours). The caller rethrows errors forever.
    mutating func feed<C: Collection<UInt8>>(_ bytes: C) throws(HTTPHeadError) -> Int {
        var index = bytes.startIndex
        var consumed = 0
        while index != bytes.endIndex {
            switch state {
            case .done:
                return consumed
            case .data(let remaining):
                // Chunk data is copied in runs, not byte by byte.
                let end = bytes.index(index, offsetBy: remaining, limitedBy: bytes.endIndex) ?? bytes.endIndex
                let run = bytes.distance(from: index, to: end)
                body.append(contentsOf: bytes[index..<end])
                consumed += run
                index = end
                state = remaining == run ? .dataEnd(sawCR: false) : .data(remaining: remaining - run)
            default:
                try take(bytes[index])
                consumed += 1
                bytes.formIndex(after: &index)
            }
        }
        return consumed
    }

    /// One byte of framing: a size line, the CRLF after data, or a trailer.
    private mutating func take(_ byte: UInt8) throws(HTTPHeadError) {
        switch state {
        case .sizeLine(var splitter):
            let line: [UInt8]?
            do {
                line = try splitter.push(byte)
            } catch {
                throw Self.describe(error, in: "chunk size line", limit: Self.maxSizeLineLength)
            }
            guard let line else {
                state = .sizeLine(splitter)
                return
            }
            let size = try chunkSize(line)
            if size == 0 {
                state = .trailers(HeadLineSplitter(limit: Self.maxTrailerLength))
            } else {
                state = .data(remaining: size)
            }
        case .dataEnd(let sawCR):
            // Bare LF is tolerated, as in heads; anything else means the size lied.
            if byte == 0x0D && !sawCR {
                state = .dataEnd(sawCR: true)
            } else if byte == 0x0A {
                state = .sizeLine(HeadLineSplitter(limit: Self.maxSizeLineLength))
            } else {
                throw HTTPHeadError(message: "invalid chunked body: chunk data not followed by CRLF")
            }
        case .trailers(var splitter):
            let line: [UInt8]?
            do {
                line = try splitter.push(byte)
            } catch {
                throw Self.describe(error, in: "trailer section", limit: Self.maxTrailerLength)
            }
            if line?.isEmpty == true {
                state = .done
                isComplete = true
            } else {
                state = .trailers(splitter)
            }
        case .data, .done:
            break  // handled by feed
        }
    }

    /// "1a2b", "1a2b;name=value", "1a2b ; ext" → the size; checks it against
    /// what the body may still grow by.
    private func chunkSize(_ line: [UInt8]) throws(HTTPHeadError) -> Int {
        let digits = line.prefix(while: { Self.hexValue($0) != nil })
        let rest = line[digits.count...].drop(while: { $0 == 0x20 || $0 == 0x09 })
        guard !digits.isEmpty, rest.isEmpty || rest.first == UInt8(ascii: ";") else {
            throw HTTPHeadError(message: "invalid chunked body: bad chunk size line \(PrintableText.quoted(line))")
        }
        var size = 0
        for digit in digits {
            // Checked per digit, before and after, so no size can overflow.
            guard size <= Int.max >> 4 else { throw tooLarge() }
            size = size * 16 + Int(Self.hexValue(digit) ?? 0)
            guard size <= limit - body.count else { throw tooLarge() }
        }
        return size
    }

    private func tooLarge() -> HTTPHeadError {
        HTTPHeadError(message: "response body larger than \(limit) bytes")
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static func describe(_ problem: HeadLineSplitter.Problem, in part: String, limit: Int) -> HTTPHeadError {
        switch problem {
        case .tooLarge:
            return HTTPHeadError(message: "invalid chunked body: \(part) longer than \(limit) bytes")
        case .controlByte(let byte):
            return HTTPHeadError(message: "invalid chunked body: control character 0x\(PrintableText.hex(byte)) in the \(part)")
        case .strayCarriageReturn:
            return HTTPHeadError(message: "invalid chunked body: carriage return not followed by line feed in the \(part)")
        }
    }
}
