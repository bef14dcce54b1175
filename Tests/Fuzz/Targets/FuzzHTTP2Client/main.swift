import FuzzSupport
@testable import UVTunnel

/// HTTP2Session, the client side of `--multiplex`: whatever a gateway sends
/// after its SETTINGS. Two CONNECT streams are open (one reading, one whose
/// reader stopped), then the server bytes arrive in two reads at the
/// fuzz-chosen offset, with loop turns between; the option byte picks small
/// windows and budgets and whether the streams write. Invariants: no crash;
/// each stream's CONNECT is answered at most once and its reader hears at
/// most one end, never data after it; every message is one printable line;
/// after close every pool buffer is back and the loop holds no more handles
/// than before the input.
FuzzMain.run(fuzzHTTP2Client)

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzHTTP2Client(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let option = input.takeByte()
    let (first, second) = input.split()
    let loop = Shared.loop
    let handlesBefore = loop.handleCount
    var settings = HTTP2Settings()
    if option & 1 != 0 {
        settings.streamWindow = 1024
        settings.connectionWindow = 4096
        settings.inboundBudget = 2048
        settings.outboundLimit = 512
    }
    let transport = ServerBytes(loop: loop)
    var closedWith: String??
    do {
        let session = try HTTP2Session(transport: transport, loop: loop, settings: settings)
        session.onClosed = { reason in
            Fuzz.check(closedWith == nil, "onClosed twice")
            closedWith = .some(reason)
            if let reason { Fuzz.checkLogLine(reason, "close reason") }
        }
        session.start()
        // The server's SETTINGS (empty): the session may open streams.
        transport.deliver([0, 0, 0, 4, 0, 0, 0, 0, 0])
        turns(loop)
        var watched: [Watch] = []
        for reading in [true, false] where session.canOpenStream {
            let watch = Watch(loop: loop)
            guard let stream = session.openStream(authority: "db.internal:5432", token: "a.b.c", userAgent: "fuzz",
                                                  onResponse: watch.answered) else { break }
            watch.attach(stream, reading: reading)
            watched.append(watch)
        }
        turns(loop)
        for chunk in [first, second] where !chunk.isEmpty {
            transport.deliver(Array(chunk))
            turns(loop)
            if option & 2 != 0 {
                for watch in watched { watch.write() }
            }
        }
        if option & 4 != 0 { watched.first?.stream?.shutdownWrite { _ in } }
        turns(loop)
        for watch in watched { watch.stream?.close() }
        session.close()
        loop.run()
        Fuzz.check(session.isClosed, "open after close")
        Fuzz.check(closedWith != nil, "the owner never heard the end")
        watched.removeAll()
    } catch {
        Fuzz.fail("no session: \(error)")
    }
    loop.run()
    Fuzz.equal(loop.buffers.outstanding, 0, "pool buffers not returned")
    Fuzz.equal(loop.handleCount, handlesBefore, "handles left open")
    return 0
}

/// One loop for every input (a loop per input ran about 2.5x fewer inputs a
/// second here; made lazily: top-level code after FuzzMain.run
/// never runs); libFuzzer calls the target from one thread only.
private enum Shared {
    nonisolated(unsafe) static let loop = try! EventLoop()
}

private func turns(_ loop: EventLoop) {
    for _ in 0..<4 { _ = loop.runOnce(block: false) }
}

/// One stream and what its consumer heard.
private final class Watch {
    private let loop: EventLoop
    private(set) var stream: HTTP2Stream?
    private var answers = 0
    private var ended = false

    init(loop: EventLoop) { self.loop = loop }

    func answered(_ result: Result<Int, HTTP2Failure>) {
        answers += 1
        Fuzz.check(answers == 1, "CONNECT answered twice")
        if case .failure(let failure) = result { Fuzz.checkLogLine(failure.description, "stream failure") }
    }

    func attach(_ stream: HTTP2Stream, reading: Bool) {
        self.stream = stream
        stream.onRead = { [weak self, loop] event in
            guard let self else { return }
            Fuzz.check(!self.ended, "a read event after the end")
            switch event {
            case .data(let buffer): loop.buffers.give(buffer)
            case .eof: self.ended = true
            case .error(let error):
                self.ended = true
                Fuzz.checkLogLine(error.message, "read error")
            }
        }
        if reading { stream.startReading() }
    }

    func write() {
        guard let stream else { return }
        stream.write(loop.buffers.buffers(copying: Array(repeating: 0x61, count: 700))) { _ in }
    }
}

/// The session's transport: reads are what the test hands `deliver`; writes
/// (the client's frames) are dropped at once.
private final class ServerBytes: ByteStream {
    var onRead: ((ReadEvent) -> Void)?
    private let loop: EventLoop
    private var reading = false
    private var closed = false

    init(loop: EventLoop) { self.loop = loop }

    func deliver(_ bytes: [UInt8]) {
        guard reading, !closed, let onRead else { return }
        for buffer in loop.buffers.buffers(copying: bytes) { onRead(.data(buffer)) }
    }

    func startReading() { reading = true }
    func stopReading() { reading = false }

    func write(_ buffers: [Buffer], completion: @escaping (StreamError?) -> Void) {
        buffers.forEach { loop.buffers.give($0) }
        completion(closed ? StreamError(message: "closed") : nil)
    }

    func writeNow(_ buffers: [Buffer], otherwise completion: @escaping (StreamError?) -> Void) -> Bool {
        buffers.forEach { loop.buffers.give($0) }
        return true
    }

    func shutdownWrite(completion: @escaping (StreamError?) -> Void) { completion(nil) }

    func close() {
        closed = true
        onRead = nil
    }
}
