import FuzzSupport
import UVTunnel

/// HTTPBodyDecoder: the body of the login call's answer (Content-Length,
/// chunked, or until close), from a gateway or whatever answers in its place.
/// Input: [split:2][limit option:1][response head + body bytes]; the head is
/// read with ResponseHeadParser, the rest is the body, fed whole, split at
/// the fuzz-chosen offset and byte by byte.
FuzzMain.run(fuzzBodyDecoder)

/// How one feeding ended: complete, failed, or what endOfInput said.
private enum Outcome: Equatable {
    case complete([UInt8])
    case failed(String)
    case closed(Result<[UInt8], HTTPHeadError>)
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzBodyDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let option = input.takeByte()
    // Mostly the production bound, sometimes a tiny one (0...127) so short
    // inputs reach the "too large" paths.
    let limit = option < 0x80 ? 64 * 1024 : Int(option & 0x7F)
    guard case .complete(let head, let end) = HeadDriver.run(ResponseHeadParser(), [input.bytes]) else { return 0 }
    let body = input.bytes.dropFirst(end)
    let decoder = HTTPBodyDecoder(head: head, limit: limit)

    let whole = run(decoder, [body])
    let (first, second) = input.split(body)
    Fuzz.equal(run(decoder, [first, second]), whole, "whole vs split at \(first.count)")
    Fuzz.equal(run(decoder, body.indices.map { body[$0...$0] }), whole, "whole vs byte by byte")
    checkFraming(decoder.framing, whole, body: body, limit: limit)
    return 0
}

private func run(_ decoder: HTTPBodyDecoder, _ chunks: [ArraySlice<UInt8>]) -> Outcome {
    var decoder = decoder
    for chunk in chunks + [[][...]] {
        do {
            if case .complete(let body) = try decoder.feed(chunk) {
                Fuzz.check(body.count <= decoder.limit, "body of \(body.count) bytes over the \(decoder.limit) limit")
                Fuzz.equal(try? decoder.feed(chunk), .complete(body: body), "a finished decoder answers again")
                Fuzz.equal(try? decoder.endOfInput(), body, "endOfInput after the body")
                return .complete(body)
            }
        } catch {
            Fuzz.checkLogLine(error.message, "body error")
            Fuzz.equal(Result { () throws(HTTPHeadError) in try decoder.feed(chunk) }.failure, error, "error again")
            return .failed(error.message)
        }
    }
    let closed = Result { () throws(HTTPHeadError) in try decoder.endOfInput() }
    if case .failure(let error) = closed { Fuzz.checkLogLine(error.message, "endOfInput error") }
    if case .success(let body) = closed { Fuzz.check(body.count <= decoder.limit, "body over the limit at close") }
    return .closed(closed)
}

/// What each framing promises, checked against the input.
private func checkFraming(_ framing: HTTPBodyDecoder.Framing?, _ outcome: Outcome, body: ArraySlice<UInt8>, limit: Int) {
    switch framing {
    case .empty?:
        Fuzz.equal(outcome, .complete([]), "no-body status")
    case .length(let length)?:
        if body.count >= length {
            Fuzz.equal(outcome, .complete(Array(body.prefix(length))), "Content-Length body")
        } else {
            guard case .closed(.failure) = outcome else { Fuzz.fail("a short Content-Length body was accepted") }
        }
    case .untilEOF?:
        Fuzz.equal(outcome, body.count <= limit ? .closed(.success(Array(body))) : .failed("response body larger than \(limit) bytes"),
                   "read-until-close body")
    case .chunked?:
        // A decoded body, chunked again in one chunk, decodes to itself.
        guard case .complete(let decoded) = outcome else { return }
        let head = ResponseHead(status: 200, reason: "OK", headers: [HTTPHeader(name: "Transfer-Encoding", value: "chunked")])
        let encoded = Array((String(decoded.count, radix: 16) + "\r\n").utf8) + decoded + Array("\r\n0\r\n\r\n".utf8)
        Fuzz.equal(run(HTTPBodyDecoder(head: head, limit: limit), [encoded[...]]), .complete(decoded), "re-chunked body")
    case nil:
        guard case .failed = outcome else { Fuzz.fail("a bad head did not fail the body") }
    }
}

private extension Result {
    var failure: Failure? { if case .failure(let e) = self { e } else { nil } }
}
