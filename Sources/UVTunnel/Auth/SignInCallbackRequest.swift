extension SignInCallback {
    /// The largest form body the callback reads; a form holding one JWT
    /// (≤ 16 KiB) fits, anything larger is refused before it is read.
    public static let maxBodyLength = 16 * 1024

    /// A callback request refused before its body is read; `response` is the
    /// complete answer to send before closing.
    public struct RequestError: Error, Equatable, Sendable, CustomStringConvertible {
        public var status: Int
        public var message: String
        public var description: String { message }

        public var response: [UInt8] {
            SignInCallback.errorResponse(status: status)
        }
    }

    /// How many body bytes to read after the head: the Content-Length, 0 when
    /// there is none. Chunked (any Transfer-Encoding), malformed or
    /// conflicting lengths, and lengths over `maxBodyLength` are refused, so
    /// the listener never buffers more than it can check.
    public static func bodyLength(of head: ConnectRequestHead) throws(RequestError) -> Int {
        guard MessageFraming.transferCodings(head.headers).isEmpty else {
            throw RequestError(status: 411, message: "sign-in callback request uses Transfer-Encoding; only a Content-Length body is accepted")
        }
        let length: Int?
        do {
            length = try MessageFraming.contentLength(head.headers)
        } catch {
            throw RequestError(status: 400, message: "sign-in callback request: \(error.message)")
        }
        guard let length else { return 0 }
        guard length <= maxBodyLength else {
            throw RequestError(status: 413, message: "sign-in callback request body larger than \(maxBodyLength) bytes (Content-Length: \(length))")
        }
        return length
    }

    /// A 400 page for a request that could not even be parsed. `reason` is
    /// for the caller's log only and is deliberately not shown: parser errors
    /// quote the request's bytes, which may include the token. For a
    /// RequestError from `bodyLength`, send its own `response` (411/413).
    public static func badRequest(reason: String) -> [UInt8] {
        errorResponse(status: 400)
    }
}
