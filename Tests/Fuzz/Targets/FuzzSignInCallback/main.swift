import FuzzSupport
@testable import UVTunnel

/// The sign-in callback listener's decisions on one request, as the
/// listener takes them: head (ConnectRequestParser), then
/// SignInCallback.bodyLength, then SignInCallback.handle. Any local process
/// or web page can send this request. Input: [unused:2][request bytes].
FuzzMain.run(fuzzSignInCallback)

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzSignInCallback(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    guard case .complete(let head, let end) = HeadDriver.run(ConnectRequestParser(), [input.bytes]) else { return 0 }
    let rest = input.bytes.dropFirst(end)

    do {
        let length = try SignInCallback.bodyLength(of: head)
        Fuzz.check((0...SignInCallback.maxBodyLength).contains(length), "body length \(length)")
        check(SignInCallback.handle(head: head, body: Array(rest.prefix(length))), head: head)
    } catch {
        Fuzz.check([400, 411, 413].contains(error.status), "bodyLength status \(error.status)")
        Fuzz.checkLogLine(error.message, "bodyLength message")
        Fuzz.equal(Response.status(of: error.response), error.status, "status of the refusal page")
    }
    // Whatever the caller passes (more than it was told to read, too), the
    // answer must still be a fixed page.
    check(SignInCallback.handle(head: head, body: Array(rest)), head: head)
    return 0
}

private func check(_ outcome: SignInCallback.Outcome, head: ConnectRequestHead) {
    switch outcome {
    case .token(let token, let response):
        // The token goes into a cache file and an Authorization header.
        Fuzz.check(CompactJWTShape.isPlausible(token), "accepted token is not a compact JWT")
        Fuzz.check(response == SignInCallback.successResponse, "success page differs")
        Fuzz.check(!outcome.description.contains(token), "description shows the token")
    case .rejected(let response, let reason):
        Fuzz.checkLogLine(reason, "rejection reason")
        // Only fixed pages: nothing from the request (the token!) is echoed.
        Fuzz.check(Response.fixedPages.contains(response), "rejection page is not one of the fixed pages")
        if head.method == "GET" || head.method == "POST" {
            for candidate in candidateTokens(head) {
                Fuzz.check(!reason.contains(candidate) && !outcome.description.contains(candidate),
                           "rejection reason shows the token")
            }
        }
    }
}

/// Every pomerium_jwt value in the request's query, distinctive enough (a
/// dot, 16+ bytes) that finding it in a fixed reason text means it was echoed.
private func candidateTokens(_ head: ConnectRequestHead) -> [String] {
    guard let question = head.target.firstIndex(of: "?") else { return [] }
    return PercentEncoding.parseQuery(head.target[head.target.index(after: question)...])
        .filter { $0.0 == SignInCallback.tokenParameter && $0.1.contains(".") && $0.1.utf8.count >= 16 }
        .map(\.1)
}

/// The pages the callback may answer with, each parsed back as HTTP.
private enum Response {
    static let fixedPages: Set<[UInt8]> = Set(
        [SignInCallback.successResponse,
         SignInCallback.errorResponse(status: 405, extraHeaders: [("Allow", "GET, POST")])]
            + [400, 404, 411, 413, 415].map { SignInCallback.errorResponse(status: $0) })

    /// A page must be a complete response a browser can read: the status,
    /// and a body exactly as long as its Content-Length.
    static func status(of page: [UInt8]) -> Int {
        guard case .complete(let head, let end) = HeadDriver.run(ResponseHeadParser(), [page[...]]) else {
            Fuzz.fail("our own page does not parse as an HTTP response")
        }
        var decoder = HTTPBodyDecoder(head: head)
        guard case .complete(let body)? = try? decoder.feed(page[end...]) else {
            Fuzz.fail("our own page's body does not match its Content-Length")
        }
        Fuzz.equal(body.count, page.count - end, "page body length")
        return head.status
    }
}
