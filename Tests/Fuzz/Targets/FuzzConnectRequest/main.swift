import FuzzSupport
import UVTunnel

/// The bundled gateway's request head parser (ConnectRequestParser), which
/// also reads the sign-in callback's request: bytes from any local process
/// or browser. Input: [split:2][limit option:1][bytes].
FuzzMain.run(fuzzConnectRequest)

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzConnectRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let limit = HeadDriver.limit(input.takeByte(), default: 16 * 1024)
    let outcome = HeadDriver.runAllWays(ConnectRequestParser(limit: limit), input)
    guard case .complete(let head, let end) = outcome else { return 0 }

    Fuzz.check(end <= limit, "head of \(end) bytes passed the \(limit)-byte limit")
    Fuzz.check(input.bytes[input.bytes.startIndex + end - 1] == 0x0A, "head did not end at a line feed")
    Fuzz.check(head.version == "HTTP/1.0" || head.version == "HTTP/1.1", "version \(head.version)")
    Fuzz.check((1...ConnectRequestParser.maxMethodLength).contains(head.method.utf8.count), "method length")
    // The target is copied into logs and CONNECT dials: visible ASCII only.
    Fuzz.check(Fuzz.isVisibleASCII(head.target) && !head.target.isEmpty, "target \(head.target.debugDescription)")
    Fuzz.check(head.headers.count <= ConnectRequestParser.maxHeaders, "\(head.headers.count) headers")
    if let token = head.pomeriumToken() {
        Fuzz.check(!token.isEmpty && !token.hasPrefix(" "), "token with a leading space or empty")
    }

    // Written back out, the head must parse to itself.
    let text = serialise(head)
    let again = HeadDriver.run(ConnectRequestParser(limit: Int.max), [text[...]])
    Fuzz.equal(again, .complete(head, end: text.count), "parse(serialise(head))")
    return 0
}

private func serialise(_ head: ConnectRequestHead) -> [UInt8] {
    var text = "\(head.method) \(head.target) \(head.version)\r\n"
    for header in head.headers { text += "\(header.name): \(header.value)\r\n" }
    return Array((text + "\r\n").utf8)
}
