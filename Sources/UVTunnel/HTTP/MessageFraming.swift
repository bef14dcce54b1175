/// Reads the two headers that decide where an HTTP/1.1 body ends
/// (RFC 9112 §6): Content-Length and Transfer-Encoding. Shared by the login
/// call's response decoder and the sign-in callback's request reader, so both
/// apply the same strict rules to untrusted peers.
enum MessageFraming {
    /// More digits than this cannot be a body we accept, and stopping here
    /// keeps the arithmetic far from overflow.
    static let maxContentLengthDigits = 15

    /// The Content-Length, nil when absent. Several headers, or a
    /// comma-separated list, are accepted only when every value is the same
    /// (RFC 9112 §6.3 item 5); anything else is an error, since two readers
    /// could disagree on where the body ends.
    static func contentLength(_ headers: [HTTPHeader]) throws(HTTPHeadError) -> Int? {
        var result: Int?
        for header in headers where HTTPToken.equalsIgnoringASCIICase(header.name, "Content-Length") {
            for element in header.value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                let digits = trimmed(element)
                guard !digits.isEmpty, digits.count <= maxContentLengthDigits,
                      digits.allSatisfy(HTTPToken.isDigit)
                else {
                    throw HTTPHeadError(message: "invalid Content-Length \(PrintableText.quoted(header.value))")
                }
                let value = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
                if let result, result != value {
                    throw HTTPHeadError(message: "conflicting Content-Length values \(result) and \(value)")
                }
                result = value
            }
        }
        return result
    }

    /// Every transfer coding named, lower-cased, in order, across all
    /// Transfer-Encoding headers; empty when there is none.
    static func transferCodings(_ headers: [HTTPHeader]) -> [String] {
        var codings: [String] = []
        for header in headers where HTTPToken.equalsIgnoringASCIICase(header.name, "Transfer-Encoding") {
            for element in header.value.utf8.split(separator: UInt8(ascii: ",")) {
                let name = trimmed(element)
                if !name.isEmpty {
                    codings.append(String(decoding: name.map(HTTPToken.lower), as: UTF8.self))
                }
            }
        }
        return codings
    }

    private static func trimmed(_ bytes: some Collection<UInt8>) -> ArraySlice<UInt8> {
        var slice = ArraySlice(bytes)
        while let f = slice.first, f == 0x20 || f == 0x09 { slice.removeFirst() }
        while let l = slice.last, l == 0x20 || l == 0x09 { slice.removeLast() }
        return slice
    }
}
