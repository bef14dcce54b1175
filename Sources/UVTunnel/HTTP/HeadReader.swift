/// What a request head and a response head differ in: the grammar of the
/// first line and the words errors use. Everything else is `HeadReader`'s.
protocol HeadGrammar: Sendable {
    associatedtype StartLine: Sendable
    associatedtype Head: Sendable

    /// "gateway sent an invalid response", "invalid request": how errors start.
    var invalid: String { get }
    /// "response" or "request".
    var noun: String { get }
    /// Who hung up, in end-of-input messages: "gateway", "client".
    var sender: String { get }

    /// Can `byte` come at `position` of the start line? Checked byte by byte,
    /// so a peer that does not speak HTTP fails on its first bytes, not after
    /// the whole head limit.
    mutating func accepts(_ byte: UInt8, at position: Int) -> Bool
    func parseStartLine(_ line: [UInt8]) throws(HTTPHeadError) -> StartLine
    func head(_ start: StartLine, headers: [HTTPHeader]) -> Head
    /// The error for a first line that is not this grammar's; `sent` is what came.
    func notHTTP(_ sent: [UInt8]) -> HTTPHeadError
}

/// The one incremental HTTP/1.x head reader behind both parsers (the CONNECT
/// answer on the client, the request on the bundled gateway and the sign-in
/// callback): cuts lines with `HeadLineSplitter`, bounds the head at `limit`
/// bytes and `maxHeaders` lines, and never reads past the head, so `consumed`
/// says where the tunnel bytes start in the chunk that completed it.
struct HeadReader<Grammar: HeadGrammar>: Sendable {
    static var maxHeaders: Int { 100 }

    let limit: Int
    private var grammar: Grammar
    private var splitter: HeadLineSplitter
    private var startLine: Grammar.StartLine?
    private var headers: [HTTPHeader] = []
    private var state: State = .reading

    private enum State: Sendable {
        case reading
        case failed(HTTPHeadError)
        case done(Grammar.Head)
    }

    init(limit: Int, grammar: Grammar) {
        self.limit = limit
        self.grammar = grammar
        splitter = HeadLineSplitter(limit: limit)
    }

    /// After an error every call throws it again; after completion every call
    /// returns the head with `consumed: 0` (nothing more is taken).
    mutating func feed(_ bytes: some Collection<UInt8>) throws(HTTPHeadError) -> HeadParseStep<Grammar.Head> {
        switch state {
        case .failed(let error): throw error
        case .done(let head): return .complete(head, consumed: 0)
        case .reading: break
        }
        var consumed = 0
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if startLine == nil && !grammar.accepts(byte, at: splitter.line.count) {
                // Show what was sent: the line so far plus what follows in this read.
                throw fail(grammar.notHTTP(splitter.line + Array(bytes[index...].prefix(64))))
            }
            consumed += 1
            let line: [UInt8]?
            do {
                line = try splitter.push(byte)
            } catch {
                throw fail(describe(error))
            }
            if let line, let head = try take(line) {
                state = .done(head)
                return .complete(head, consumed: consumed)
            }
            bytes.formIndex(after: &index)
        }
        return .needMore
    }

    /// The error to report when the connection ends before the head is complete.
    func endOfInput() -> HTTPHeadError {
        switch state {
        case .failed(let error):
            return error
        case .done:
            return HTTPHeadError(message: "\(grammar.sender) closed the connection after the \(grammar.noun) head")
        case .reading:
            if splitter.count == 0 {
                return HTTPHeadError(message: "\(grammar.sender) closed the connection before sending a \(grammar.noun)")
            }
            return HTTPHeadError(message: "\(grammar.sender) closed the connection after \(splitter.count) bytes, before the end of the \(grammar.noun) head")
        }
    }

    /// Handles one complete line; returns the head when `line` is the blank
    /// line that ends it.
    private mutating func take(_ line: [UInt8]) throws(HTTPHeadError) -> Grammar.Head? {
        guard let startLine else {
            do { startLine = try grammar.parseStartLine(line) } catch { throw fail(error) }
            return nil
        }
        if line.isEmpty { return grammar.head(startLine, headers: headers) }
        guard headers.count < Self.maxHeaders else {
            throw fail(HTTPHeadError(message: "\(grammar.invalid): more than \(Self.maxHeaders) header lines"))
        }
        guard let header = HTTPToken.parseHeaderLine(line) else {
            throw fail(HTTPHeadError(message: "\(grammar.invalid): malformed header line \(PrintableText.quoted(line))"))
        }
        headers.append(header)
        return nil
    }

    private mutating func fail(_ error: HTTPHeadError) -> HTTPHeadError {
        state = .failed(error)
        return error
    }

    private func describe(_ problem: HeadLineSplitter.Problem) -> HTTPHeadError {
        switch problem {
        case .tooLarge:
            return HTTPHeadError(message: "\(grammar.invalid): \(grammar.noun) head larger than \(limit) bytes")
        case .controlByte(let byte):
            return HTTPHeadError(message: "\(grammar.invalid): control character 0x\(PrintableText.hex(byte)) in the \(grammar.noun) head")
        case .strayCarriageReturn:
            return HTTPHeadError(message: "\(grammar.invalid): carriage return not followed by line feed in the \(grammar.noun) head")
        }
    }
}
