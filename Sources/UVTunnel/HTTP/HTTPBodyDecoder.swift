/// Result of feeding body bytes: wait for more, or the whole body.
public enum BodyStep: Sendable, Equatable {
    case needMore
    case complete(body: [UInt8])
}

/// Incremental decoder for one HTTP/1.1 response body, used for the login
/// call (SPEC "Sign-in" step 2), whose text/plain body is the sign-in URL.
///
/// The framing is chosen from the head as RFC 9112 §6.3 says: no body for
/// 1xx/204/304, chunked when Transfer-Encoding says so, else Content-Length,
/// else everything until the connection closes. The server is untrusted: the
/// decoded body never exceeds `limit` bytes, and a header that makes the
/// framing ambiguous is an error rather than a guess. Bytes after the end of
/// the body are ignored: the login call uses one connection per request.
public struct HTTPBodyDecoder: Sendable {
    public enum Framing: Sendable, Equatable {
        case empty
        case length(Int)
        case chunked
        case untilEOF
    }

    public let limit: Int
    /// nil when the head itself is unusable; `feed` then throws why.
    public let framing: Framing?

    private var body: [UInt8] = []
    private var chunked: ChunkedBodyDecoder
    private var state: State

    private enum State: Sendable {
        case reading
        case failed(HTTPHeadError)
        case done([UInt8])
    }

    /// Never fails here, so it can be built straight from a parsed head; a bad
    /// head is reported by the first `feed` or `endOfInput`.
    public init(head: ResponseHead, limit: Int = 64 * 1024) {
        self.limit = max(0, limit)
        self.chunked = ChunkedBodyDecoder(limit: self.limit)
        do {
            let framing = try Self.framing(of: head, limit: self.limit)
            self.framing = framing
            state = framing == .empty || framing == .length(0) ? .done([]) : .reading
        } catch {
            framing = nil
            state = .failed(error)
        }
    }

    /// Feed the next bytes of the connection (an empty feed is fine: it reports
    /// a body that needs no bytes, or a bad head). After completion every call
    /// returns the body again; after an error every call throws it again.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(HTTPHeadError) -> BodyStep {
        switch state {
        case .failed(let error): throw error
        case .done(let body): return .complete(body: body)
        case .reading: break
        }
        switch framing {
        case .length(let length):
            let wanted = length - body.count
            body.append(contentsOf: bytes.prefix(wanted))
            if body.count == length { return finish(body) }
        case .chunked:
            do {
                _ = try chunked.feed(bytes)
            } catch {
                throw fail(error)
            }
            if chunked.isComplete { return finish(chunked.body) }
        case .untilEOF:
            guard bytes.count <= limit - body.count else { throw fail(tooLarge()) }
            body.append(contentsOf: bytes)
        case .empty, nil:
            break  // settled in init
        }
        return .needMore
    }

    /// Call when the connection closes: the body when it was complete (always
    /// so for a read-until-close body), else why it is not.
    public func endOfInput() throws(HTTPHeadError) -> [UInt8] {
        switch state {
        case .failed(let error): throw error
        case .done(let body): return body
        case .reading: break
        }
        switch framing {
        case .untilEOF:
            return body
        case .length(let length):
            throw HTTPHeadError(message: "response body truncated: connection closed after \(body.count) of \(length) bytes")
        default:
            throw HTTPHeadError(message: "response body truncated: connection closed before the last chunk (\(chunked.body.count) bytes decoded)")
        }
    }

    // MARK: - Framing

    private static func framing(of head: ResponseHead, limit: Int) throws(HTTPHeadError) -> Framing {
        if (100...199).contains(head.status) || head.status == 204 || head.status == 304 {
            return .empty
        }
        let codings = MessageFraming.transferCodings(head.headers)
        if !codings.isEmpty {
            // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3 item 3);
            // harmless here since the connection serves this one response.
            // Only plain chunked: we never ask for compressed codings.
            guard codings == ["chunked"] else {
                throw HTTPHeadError(message: "unsupported Transfer-Encoding \(PrintableText.quoted(codings.joined(separator: ", "))); only chunked is accepted")
            }
            return .chunked
        }
        if let length = try MessageFraming.contentLength(head.headers) {
            guard length <= limit else {
                throw HTTPHeadError(message: "response body larger than \(limit) bytes (Content-Length: \(length))")
            }
            return .length(length)
        }
        return .untilEOF
    }

    // MARK: - State

    private mutating func finish(_ body: [UInt8]) -> BodyStep {
        state = .done(body)
        self.body = []
        return .complete(body: body)
    }

    private mutating func fail(_ error: HTTPHeadError) -> HTTPHeadError {
        state = .failed(error)
        return error
    }

    private func tooLarge() -> HTTPHeadError {
        HTTPHeadError(message: "response body larger than \(limit) bytes")
    }
}
