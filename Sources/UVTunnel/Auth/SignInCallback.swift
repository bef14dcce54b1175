/// What the local callback listener does with one request (SPEC "Sign-in"
/// step 3): after sign-in the browser is sent to
/// `http://127.0.0.1:<port>/<any path>?pomerium_jwt=<JWT>`, or posts the
/// token as a form.
///
/// Listener flow: parse the head (ConnectRequestParser), ask `bodyLength`
/// (on error send its `response` and close), read exactly that many bytes,
/// then `handle`. A rejected request (the browser's /favicon.ico, a stray
/// scanner) is answered and the listener keeps waiting for the real one.
///
/// The token is a secret: it is never echoed in a response page, in `reason`,
/// or in the Outcome's description.
public enum SignInCallback {
    public static let tokenParameter = "pomerium_jwt"

    /// Printing an Outcome (a log line, a test failure) never shows the token.
    public enum Outcome: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
        /// A well-formed token, and the success page to send.
        case token(String, response: [UInt8])
        /// No usable token; `reason` is one printable line for the log.
        case rejected(response: [UInt8], reason: String)

        public var description: String {
            switch self {
            case .token(let token, _): return "token(<\(token.utf8.count) bytes, not shown>)"
            case .rejected(_, let reason): return "rejected(\(reason))"
            }
        }
        public var debugDescription: String { description }
    }

    public static func handle(head: ConnectRequestHead, body: [UInt8]) -> Outcome {
        guard head.method == "GET" || head.method == "POST" else {
            return reject(405, "method \(PrintableText.quoted(head.method)) is not allowed on the sign-in callback (only GET and POST)",
                          extraHeaders: [("Allow", "GET, POST")])
        }
        // The caller was told to read at most this much; checked, not trusted.
        guard body.count <= maxBodyLength else {
            return reject(413, "sign-in callback request body larger than \(maxBodyLength) bytes")
        }

        var token = queryValue(in: head.target)
        if token == nil && head.method == "POST" && !body.isEmpty {
            guard isFormContentType(head.value(of: "Content-Type")) else {
                return reject(415, "sign-in callback POST body is not application/x-www-form-urlencoded")
            }
            token = formValue(in: body)
        }
        guard let token else {
            return reject(404, "sign-in callback request has no \(tokenParameter) parameter")
        }
        guard CompactJWTShape.isPlausible(token) else {
            return reject(400, "sign-in callback \(tokenParameter) parameter is not a compact JWT")
        }
        return .token(token, response: successResponse)
    }

    // MARK: - Finding the token

    /// The first non-empty `pomerium_jwt` in the target's query; an empty one
    /// counts as absent so a form body may still supply the token.
    static func queryValue(in target: String) -> String? {
        guard let question = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        var query = target[target.utf8.index(after: question)...]
        if let hash = query.utf8.firstIndex(of: UInt8(ascii: "#")) { query = query[..<hash] }
        return firstToken(in: query)
    }

    /// Invalid UTF-8 becomes U+FFFD, which no token can contain, so a mangled
    /// body yields a 400 rather than a guess.
    static func formValue(in body: [UInt8]) -> String? {
        firstToken(in: String(decoding: body, as: UTF8.self)[...])
    }

    private static func firstToken(in query: Substring) -> String? {
        PercentEncoding.parseQuery(query).first { $0.0 == tokenParameter && !$0.1.isEmpty }?.1
    }

    /// `application/x-www-form-urlencoded`, any case, parameters such as
    /// `; charset=UTF-8` allowed.
    static func isFormContentType(_ value: String?) -> Bool {
        guard let value else { return false }
        let mediaType = value.utf8.prefix(while: { $0 != UInt8(ascii: ";") })
            .drop(while: { $0 == 0x20 || $0 == 0x09 })
        let trimmed = mediaType.reversed().drop(while: { $0 == 0x20 || $0 == 0x09 }).reversed()
        return HTTPToken.equalsIgnoringASCIICase(String(decoding: trimmed, as: UTF8.self),
                                                 "application/x-www-form-urlencoded")
    }

    // MARK: - Responses

    static let successTitle = "uvtunnel: signed in"
    static let successMessage = "Signed in. You may close this tab."

    static var successResponse: [UInt8] {
        SimpleResponse.html(status: 200, reason: "OK",
                            page: HTMLText.page(title: successTitle, message: successMessage))
    }

    private static func reject(_ status: Int, _ reason: String,
                               extraHeaders: [(String, String)] = []) -> Outcome {
        .rejected(response: errorResponse(status: status, extraHeaders: extraHeaders), reason: reason)
    }

    /// A short fixed page per status: nothing from the request is echoed.
    static func errorResponse(status: Int, extraHeaders: [(String, String)] = []) -> [UInt8] {
        let (phrase, message): (String, String) = switch status {
        case 400: ("Bad Request", "The sign-in token in this request is malformed.")
        case 404: ("Not Found", "No sign-in token in this request.")
        case 405: ("Method Not Allowed", "Only GET and POST are accepted here.")
        case 411: ("Length Required", "Send the form with a Content-Length.")
        case 413: ("Content Too Large", "The request body is too large.")
        case 415: ("Unsupported Media Type", "Send the token as a form or in the query string.")
        default: ("Error", "The request could not be handled.")
        }
        let page = HTMLText.page(title: "uvtunnel: \(status) \(phrase)", message: message)
        return SimpleResponse.html(status: status, reason: phrase, page: page, extraHeaders: extraHeaders)
    }
}
