/// Builds the complete, self-delimiting HTTP/1.1 responses that the sign-in
/// callback listener and the test gateway's login pages send: always
/// Content-Length (so the peer never has to guess where the body ends),
/// `Connection: close` (one request per connection) and
/// `Cache-Control: no-store` (these pages may carry or follow from a token).
package enum SimpleResponse {
    package static func bytes(status: Int, reason: String, contentType: String?,
                      body: [UInt8], extraHeaders: [(String, String)] = []) -> [UInt8] {
        // Only our own literals reach here, but a line break in any of them
        // would split the response, so the head is made unable to carry one.
        let code = (100...599).contains(status) ? status : 500
        var head = "HTTP/1.1 \(code) \(headerSafe(reason))\r\n"
        var headers = extraHeaders
        if let contentType { headers.append(("Content-Type", contentType)) }
        headers.append(("Content-Length", String(body.count)))
        headers.append(("Connection", "close"))
        headers.append(("Cache-Control", "no-store"))
        for (name, value) in headers {
            head += "\(headerSafe(name)): \(headerSafe(value))\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    package static func html(status: Int, reason: String, page: String,
                     extraHeaders: [(String, String)] = []) -> [UInt8] {
        bytes(status: status, reason: reason, contentType: "text/html; charset=utf-8",
              body: Array(page.utf8), extraHeaders: extraHeaders)
    }

    package static func plain(status: Int, reason: String, text: String) -> [UInt8] {
        bytes(status: status, reason: reason, contentType: "text/plain; charset=utf-8",
              body: Array(text.utf8))
    }

    /// Printable ASCII kept; anything else (CR, LF, other controls, non-ASCII)
    /// becomes "?" so it can neither end a header line nor be misread.
    private static func headerSafe(_ text: String) -> String {
        String(decoding: text.utf8.map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}
