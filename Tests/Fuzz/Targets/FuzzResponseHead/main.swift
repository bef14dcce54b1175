import FuzzSupport
import UVTunnel

/// The gateway's answer to CONNECT (ResponseHeadParser): the first bytes a
/// hostile or broken gateway controls. Input: [split:2][limit option:1][bytes].
FuzzMain.run(fuzzResponseHead)

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzResponseHead(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let limit = HeadDriver.limit(input.takeByte(), default: 16 * 1024)
    let outcome = HeadDriver.runAllWays(ResponseHeadParser(limit: limit), input)
    guard case .complete(let head, let end) = outcome else { return 0 }

    Fuzz.check(end <= limit, "head of \(end) bytes passed the \(limit)-byte limit")
    Fuzz.check(input.bytes[input.bytes.startIndex + end - 1] == 0x0A, "head did not end at a line feed")
    Fuzz.check((100...599).contains(head.status), "status \(head.status) out of range")
    Fuzz.check(head.headers.count <= ResponseHeadParser.maxHeaders, "\(head.headers.count) headers")

    // Written back out, the head must parse to itself: nothing the parser
    // keeps (reason, header names and values) may be lost or reinterpreted.
    let text = serialise(head)
    let again = HeadDriver.run(ResponseHeadParser(limit: Int.max), [text[...]])
    Fuzz.equal(again, .complete(head, end: text.count), "parse(serialise(head))")
    return 0
}

private func serialise(_ head: ResponseHead) -> [UInt8] {
    var text = "HTTP/1.1 \(head.status)"
    if !head.reason.isEmpty { text += " \(head.reason)" }
    text += "\r\n"
    for header in head.headers { text += "\(header.name): \(header.value)\r\n" }
    return Array((text + "\r\n").utf8)
}
