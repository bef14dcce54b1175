import UVTunnel

/// What the two incremental head parsers share, so one driver feeds either.
public protocol IncrementalHeadParser {
    associatedtype Head: Sendable & Equatable
    mutating func feedSlice(_ bytes: ArraySlice<UInt8>) throws(HTTPHeadError) -> HeadParseStep<Head>
    func endOfInput() -> HTTPHeadError
}

extension ResponseHeadParser: IncrementalHeadParser {
    public mutating func feedSlice(_ bytes: ArraySlice<UInt8>) throws(HTTPHeadError) -> HeadParseStep<ResponseHead> {
        try feed(bytes)
    }
}

extension ConnectRequestParser: IncrementalHeadParser {
    public mutating func feedSlice(_ bytes: ArraySlice<UInt8>) throws(HTTPHeadError) -> HeadParseStep<ConnectRequestHead> {
        try feed(bytes)
    }
}

/// How one feeding of a head parser ended.
public enum HeadOutcome<Head: Equatable>: Equatable {
    /// The head, and the offset in the whole input just past it.
    case complete(Head, end: Int)
    /// Every byte taken, no head yet; the message `endOfInput` gives.
    case incomplete(String)
    case failed(String)
}

/// Feeds a head parser chunk by chunk and checks the contract every caller
/// relies on: `consumed` within the chunk just fed, a finished parser
/// answering the same again with nothing consumed, a failed one throwing the
/// same error again, and every message a single printable line.
public enum HeadDriver {
    public static func run<P: IncrementalHeadParser>(_ parser: P, _ chunks: [ArraySlice<UInt8>]) -> HeadOutcome<P.Head> {
        var parser = parser
        var offset = 0
        for chunk in chunks {
            do {
                switch try parser.feedSlice(chunk) {
                case .needMore:
                    offset += chunk.count
                case .complete(let head, let consumed):
                    Fuzz.check(consumed >= 1 && consumed <= chunk.count,
                               "consumed \(consumed) of a \(chunk.count)-byte chunk")
                    checkSettled(&parser, head: head, rest: chunk.dropFirst(consumed))
                    return .complete(head, end: offset + consumed)
                }
            } catch {
                checkFailed(&parser, error, rest: chunk)
                return .failed(error.message)
            }
        }
        let end = parser.endOfInput()
        Fuzz.checkLogLine(end.message, "endOfInput message")
        return .incomplete(end.message)
    }

    /// The same input cut differently must give the same answer. The one
    /// allowed difference: "expected HTTP..., got <bytes>" quotes what the
    /// failing read held, which depends on how the bytes were cut.
    public static func checkSame<H>(_ a: HeadOutcome<H>, _ b: HeadOutcome<H>, _ what: String) {
        Fuzz.equal(normalised(a), normalised(b), what)
    }

    private static func normalised<H>(_ outcome: HeadOutcome<H>) -> HeadOutcome<H> {
        guard case .failed(let message) = outcome, let got = message.range(of: ", got \"") else { return outcome }
        return .failed(String(message[..<got.lowerBound]))
    }

    private static func checkSettled<P: IncrementalHeadParser>(_ parser: inout P, head: P.Head, rest: ArraySlice<UInt8>) {
        for more in [rest, [][...]] {
            guard case .complete(let again, let consumed)? = try? parser.feedSlice(more) else {
                Fuzz.fail("a finished parser did not answer with its head again")
            }
            Fuzz.check(again == head && consumed == 0, "a finished parser took more bytes or changed its head")
        }
        Fuzz.checkLogLine(parser.endOfInput().message, "endOfInput after the head")
    }

    private static func checkFailed<P: IncrementalHeadParser>(_ parser: inout P, _ error: HTTPHeadError, rest: ArraySlice<UInt8>) {
        Fuzz.checkLogLine(error.message, "parser error")
        do {
            _ = try parser.feedSlice(rest)
            Fuzz.fail("a failed parser accepted more bytes")
        } catch let again {
            Fuzz.equal(again, error, "error thrown again")
        }
        Fuzz.equal(parser.endOfInput(), error, "endOfInput after an error")
    }

    /// The payload fed whole, split at the fuzz-chosen offset, and byte by
    /// byte; the three outcomes must agree. Returns the whole-feed outcome.
    public static func runAllWays<P: IncrementalHeadParser>(_ parser: P, _ input: FuzzInput) -> HeadOutcome<P.Head> {
        let payload = input.bytes
        let (first, second) = input.split()
        let whole = run(parser, [payload])
        checkSame(whole, run(parser, [first, second]), "whole vs split at \(first.count)")
        checkSame(whole, run(parser, payload.indices.map { payload[$0...$0] }), "whole vs byte by byte")
        return whole
    }

    /// The head size bound: mostly the production default, sometimes a tiny
    /// one (1...128) so inputs of a few bytes reach the "too large" path.
    public static func limit(_ option: UInt8, default value: Int) -> Int {
        option < 0x80 ? value : Int(option & 0x7F) + 1
    }
}
